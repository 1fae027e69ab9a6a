// Speak: POST /v1/audio/speech (the OpenAI-compatible route, which streams), with the
// models /v1/models lists, the languages /api/v1/health reports for each, library voices,
// and the parameters' ranges from the OpenAPI document; or, with "Speak as I type", the
// WebSocket that speaks each sentence as soon as it is typed (live.js).

import { ApiError, call, fileFormats, getJson, rangeOf, schemaOf } from "./api.js";
import { playStream, showOutput } from "./audio.js";
import { LiveSession } from "./live.js";
import { $, announce, clearErrors, el, fillSelect, formValues, numberField, showError, submitting } from "./ui.js";
import { searchVoices } from "./voice_search.js";

const PARAMETERS = [["exaggeration", "Exaggeration"], ["cfg_weight", "CFG weight"], ["temperature", "Temperature"], ["speed", "Speed"], ["seed", "Seed"]];
const GUIDED = ["exaggeration", "cfg_weight"]; // ignored by models without guidance (turbo)

export async function setUpSpeak(health) {
  const form = $("#speak-form");
  const text = $("#speak-input");
  const schema = await schemaOf("SpeechRequest");
  const limit = schema.properties.input.maxLength;
  text.maxLength = limit;
  const count = () => { $("#speak-count").textContent = `${text.value.length} / ${limit} characters`; };
  text.addEventListener("input", count);
  count();

  $("#speak-parameters").replaceChildren(...PARAMETERS.map(([name, label]) =>
    numberField(`speak-${name.replace("_", "-")}`, name, label, rangeOf(schema.properties[name]), name === "seed" ? 1 : undefined)));
  fillSelect($("#speak-format"), (await fileFormats()).map((format) => [format, format]), "mp3");

  const models = (await getJson("/v1/models")).data;
  const families = health.models;
  fillSelect($("#speak-model"), models.map((model) => [model.id, `${model.id} (${model.root})`]),
    models.find((model) => model.root === health.default_model)?.id);
  const modelChanged = () => {
    const family = families[models.find((model) => model.id === form.elements.model.value)?.root] ?? {};
    const languages = Object.entries(family.languages ?? { en: "English" });
    fillSelect($("#speak-language"), languages.map(([code, name]) => [code, `${name} (${code})`]), "en");
    $("#speak-language").disabled = languages.length < 2;
    for (const name of GUIDED) form.elements[name].disabled = family.guidance === false;
    const tags = family.tags?.length ? ` Tags it performs: ${family.tags.join(" ")}.` : "";
    $("#speak-markup").textContent = `Write [pause:1.5s] for a silence.${tags}`;
  };
  $("#speak-model").addEventListener("change", modelChanged);
  modelChanged();

  const voiceList = await getJson("/v1/audio/voices");
  const builtIn = voiceList.fallback ? [voiceList.fallback] : [];
  const fixed = [...voiceList.data.filter((entry) => entry.source !== "library").map((entry) => entry.id), ...builtIn];
  searchVoices($("#speak-voice"), $("#speak-voices"), fixed);
  if (!form.elements.voice.value) form.elements.voice.value = voiceList.data[0]?.id ?? builtIn[0] ?? "";

  let running = null;
  let live = null;
  const liveStart = () => ({
    model: models.find((model) => model.id === form.elements.model.value)?.root, voice: form.elements.voice.value, response_format: "wav",
    ...formValues(form, ["exaggeration", "cfg_weight", "temperature", "seed"].filter((name) => !form.elements[name].disabled)),
    ...(form.elements.speed.value ? { speed_factor: Number(form.elements.speed.value) } : {}),
    ...(form.elements.language.disabled ? {} : { language: form.elements.language.value }),
  });
  text.addEventListener("input", () => {
    if (!$("#speak-live").checked) return;
    if (!live?.open) {
      clearErrors(form);
      $("#speak-sentences").replaceChildren();
      live = new LiveSession(liveStart(), (event) => heard(form, event));
      $("#speak-stop").disabled = false;
    }
    live.follow(text.value);
  });
  $("#speak-stop").addEventListener("click", () => {
    if (live?.open) return live.cancel();
    running?.abort(); // hangs up: the service stops generating
    $("#speak-audio").pause();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if ($("#speak-live").checked) {
      if (!live?.open) live = new LiveSession(liveStart(), (heardEvent) => heard(form, heardEvent));
      live.follow(text.value);
      live.end();
      return;
    }
    running = new AbortController();
    $("#speak-stop").disabled = false;
    submitting(form, () => speak(form, running.signal)).finally(() => { $("#speak-stop").disabled = true; });
  });
}

async function speak(form, signal) {
  const format = form.elements.response_format.value;
  const body = {
    model: form.elements.model.value, input: form.elements.input.value, voice: form.elements.voice.value, response_format: format,
    ...formValues(form, ["exaggeration", "cfg_weight", "temperature", "speed", "seed"].filter((name) => !form.elements[name].disabled)),
    ...(form.elements.language.disabled ? {} : { language: form.elements.language.value }),
  };
  announce("Generating…");
  const response = await call("POST", "/v1/audio/speech", { json: body, signal });
  const filename = response.headers.get("X-Output-Filename");
  const audio = $("#speak-audio");
  $("#speak-result").hidden = false;
  $("#speak-filename").textContent = filename ?? "(not stored)";
  const download = $("#speak-download");
  download.hidden = true;
  const blob = await playStream(audio, response, format, signal);
  download.href = URL.createObjectURL(blob);
  download.download = filename ?? `speech.${format}`;
  download.hidden = false;
  form.dispatchEvent(new CustomEvent("studio:output", { bubbles: true, detail: filename }));
  announce(`Speech ready${filename ? `, stored as ${filename}` : ""}.`);
}

// What the WebSocket says, shown as it comes: each sentence with where it lies in the audio,
// then the stored output in the player; an error next to the field it names.
function heard(form, event) {
  const list = $("#speak-sentences");
  if (event.type === "sentence") {
    list.hidden = false;
    list.append(el("li", {}, `${event.text} `, el("span", { class: "hint" }, `${event.start.toFixed(2)}–${event.end.toFixed(2)} s`)));
  } else if (event.type === "cancelled") {
    announce(`Stopped; ${event.dropped_sentences} sentences dropped.`);
  } else if (event.type === "error") {
    showError(form, new ApiError(0, event.error.message, event.error.field));
  } else if (event.type === "done") {
    $("#speak-stop").disabled = true;
    if (event.output) showOutput("speak", event.output).then(() => { $("#speak-download").hidden = false; });
    announce(`Spoken: ${event.sentences} sentences${event.output ? `, stored as ${event.output}` : ""}.`);
  } else if (event.type === "closed") {
    $("#speak-stop").disabled = true;
  }
}
