// Convert: voice conversion (POST /api/v1/vc) of an uploaded file or a microphone
// recording into a library voice.

import { fileFormats, sendForm } from "./api.js";
import { showOutput, startRecording } from "./audio.js";
import { $, announce, fillSelect, setSource, showError, submitting } from "./ui.js";
import { searchVoices } from "./voice_search.js";

export async function setUpConvert() {
  const form = $("#convert-form");
  fillSelect($("#convert-format"), (await fileFormats()).map((format) => [format, format]), "wav");
  searchVoices($("#convert-voice"), $("#convert-voices"));
  let recording = null;
  let recorded = null; // the last recording (a WAV Blob), used when no file is chosen

  $("#convert-record").addEventListener("click", async () => {
    try {
      recording = await startRecording();
    } catch (error) {
      showError(form, { field: "input_audio", message: `The microphone could not be used: ${error.message}` });
      return;
    }
    $("#convert-record").disabled = true;
    $("#convert-record-stop").disabled = false;
    $("#convert-recording").textContent = "Recording…";
  });
  $("#convert-record-stop").addEventListener("click", async () => {
    $("#convert-record-stop").disabled = true;
    recorded = await recording.stop();
    recording = null;
    $("#convert-record").disabled = false;
    $("#convert-recording").textContent = "Recorded: this is what will be converted (choose a file instead to replace it).";
    const source = $("#convert-source");
    setSource(source, recorded);
    source.hidden = false;
  });
  $("#convert-file").addEventListener("change", () => { recorded = null; $("#convert-source").hidden = true; $("#convert-recording").textContent = ""; });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submitting(form, async () => {
      const body = new FormData(form);
      if (!form.elements.input_audio.files.length) {
        body.delete("input_audio");
        if (recorded) body.append("input_audio", recorded, "recording.wav");
      }
      const output = await sendForm("/api/v1/vc", body);
      await showOutput("convert", output.filename);
      announce(`Converted into ${output.filename}.`);
    });
  });
}
