// Speak: POST /v1/audio/speech (the OpenAI-compatible route, which streams), with the
// models /v1/models lists, the languages /api/v1/health reports for each, library voices,
// and the parameters' ranges from the OpenAPI document.

import { call, fileFormats, getJson, rangeOf, schemaOf } from "./api.js";
import { playStream } from "./audio.js";
import { $, announce, fillSelect, formValues, numberField, submitting } from "./ui.js";
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
  $("#speak-stop").addEventListener("click", () => {
    running?.abort(); // hangs up: the service stops generating
    $("#speak-audio").pause();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
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
