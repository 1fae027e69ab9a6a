// Voices: the library (search, folders, tags, sort, pages), drag-and-drop uploads with a
// result per file, playable references, metadata edits guarded by the voice's ETag,
// deletes that show the API's dry-run list first, export and import.

import { call, getJson, rangeOf, schemaOf, sendForm, sendJson } from "./api.js";
import { playPath } from "./audio.js";
import { confirmDeletion } from "./deletion.js";
import { PagedList } from "./paged_list.js";
import { $, announce, clearErrors, el, fillSelect, numberField, saveBlob, seconds, showError, submitting } from "./ui.js";

const PAGE_SIZE = 20;
const DEFAULTS = [["exaggeration", "Exaggeration"], ["cfg_weight", "CFG weight"], ["temperature", "Temperature"], ["speed_factor", "Speed"]];
const path = (name) => `/api/v1/voice/${encodeURIComponent(name)}`;
const changed = () => document.dispatchEvent(new Event("studio:voices-changed"));

export async function setUpVoices() {
  const library = new PagedList("voice", {
    label: "Voices", empty: "No voice matches.", rowsOf: (voice) => [voiceRow(voice)],
    fetchPage: async (values, page) => {
      const [found, folders] = await Promise.all([
        getJson("/api/v1/voices", { ...selection(values), sort: values.sort, order: values.order, page, page_size: PAGE_SIZE }),
        getJson("/api/v1/voices/folders"),
      ]);
      fillSelect($("#voice-folder"), [["", "All folders"], ...flatten(folders)]);
      return found;
    },
  });
  setUpUploads();
  await setUpEditor();
  setUpImportExport(library);
  document.addEventListener("studio:voices-changed", () => library.load());
  library.load();
  return library;
}

// The filter as the API's query (the same for listing, export and delete).
function selection(values) {
  return { search: values.search.trim(), folder: values.folder || undefined, tag: values.tag.trim() };
}

function flatten(node, depth = 0) {
  const here = depth > 0 ? [[node.path, `${"  ".repeat(depth - 1)}${node.path} (${node.total_count})`]] : [];
  return [...here, ...node.children.flatMap((child) => flatten(child, depth + 1))];
}

function voiceRow(voice) {
  const label = voice.display_name ? `${voice.display_name} (${voice.name})` : voice.name;
  const quality = voice.quality;
  return el("tr", { "data-voice": voice.name },
    el("th", { scope: "row" }, label, voice.description ? el("p", { class: "hint", text: voice.description }) : null),
    el("td", {}, voice.folder || "—", voice.tags.length ? el("p", { class: "tags", text: voice.tags.join(", ") }) : null),
    el("td", {},
      el("span", { class: `verdict verdict-${quality.verdict}`, text: quality.verdict }),
      quality.warnings.length ? el("ul", { class: "warnings" }, ...quality.warnings.map((warning) => el("li", { text: warning }))) : null),
    el("td", { text: seconds(voice.audio.duration_seconds) }),
    el("td", {}, el("div", { class: "row-actions" },
      el("button", { type: "button", class: "secondary", text: "Play", "aria-label": `Play ${voice.name}`, on: { click: () => playReference(voice.name) } }),
      el("button", { type: "button", class: "secondary", text: "Edit", "aria-label": `Edit ${voice.name}`, on: { click: () => openEditor(voice.name) } }),
      el("button", { type: "button", class: "danger", text: "Delete", "aria-label": `Delete ${voice.name}`, on: { click: () => deleteVoices(path(voice.name), {}) } }))));
}

async function playReference(name) {
  $("#voice-playing").textContent = `Playing the reference of ${name}`;
  await playPath($("#voice-player"), `${path(name)}/audio`, { variant: "reference" }).catch((error) => { $("#voice-playing").textContent = error.message; });
}

// --- uploads ------------------------------------------------------------------------

function setUpUploads() {
  const form = $("#voice-upload");
  const input = $("#voice-files");
  form.addEventListener("dragover", (event) => { event.preventDefault(); form.classList.add("dragging"); });
  form.addEventListener("dragleave", () => form.classList.remove("dragging"));
  form.addEventListener("drop", (event) => {
    event.preventDefault();
    form.classList.remove("dragging");
    upload(form, [...event.dataTransfer.files]);
  });
  input.addEventListener("change", () => { upload(form, [...input.files]); input.value = ""; });
  form.addEventListener("submit", (event) => event.preventDefault()); // Enter in a field: nothing to send without files
}

const isZip = (file) => file.name.toLowerCase().endsWith(".zip");

// Zips go one by one as `archive`, audio files together as `files`: each answer has a
// result per file, and one bad file fails alone.
async function upload(form, files) {
  const results = $("#voice-upload-results");
  results.replaceChildren();
  await submitting(form, async () => {
    const batches = [...files.filter(isZip).map((zip) => ({ archive: [zip] })), { files: files.filter((file) => !isZip(file)) }];
    for (const batch of batches.filter((each) => (each.archive ?? each.files).length)) {
      const body = new FormData();
      for (const [field, list] of Object.entries(batch)) list.forEach((file) => body.append(field, file));
      body.append("folder", form.elements.folder.value.trim());
      if (form.elements.tags.value.trim()) body.append("tags", form.elements.tags.value);
      body.append("overwrite", form.elements.overwrite.checked);
      const answer = await sendForm("/api/v1/voices/bulk", body);
      results.append(...answer.results.map(uploadResult));
    }
    announce(`${results.querySelectorAll(".ok").length} voices added, ${results.querySelectorAll(".failed").length} failed.`);
    changed();
  });
}

function uploadResult(result) {
  if (result.status === "failed") {
    return el("li", { class: "failed" }, el("strong", { text: result.filename }), `: ${result.error.message}`);
  }
  const quality = result.voice.quality;
  return el("li", { class: "ok" }, el("strong", { text: result.name }), ` ${result.status} from ${result.filename}; quality `,
    el("span", { class: `verdict verdict-${quality.verdict}`, text: quality.verdict }),
    quality.warnings.length ? `: ${quality.warnings.join("; ")}` : "");
}

// --- editing ------------------------------------------------------------------------

let editing = null; // {name, etag} of the voice in the editor

async function setUpEditor() {
  const dialog = $("#voice-editor");
  const form = $("#voice-edit-form");
  const schema = await schemaOf("VoiceDefaults");
  $("#edit-defaults").replaceChildren(
    ...DEFAULTS.map(([name, label]) => numberField(`edit-${name.replace("_", "-")}`, `defaults.${name}`, label, rangeOf(schema.properties[name]))),
    el("div", { class: "field" }, el("label", { for: "edit-language", text: "Language" }), el("input", { id: "edit-language", name: "defaults.language", placeholder: "en" })));
  $("#voice-edit-cancel").addEventListener("click", () => dialog.close());
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submitting(form, () => save(form, dialog));
  });
}

async function openEditor(name) {
  const form = $("#voice-edit-form");
  clearErrors(form);
  const response = await call("GET", path(name)).catch((error) => showError($("#voice-filter"), error));
  if (!response) return;
  const { voice, etag } = await response.json();
  editing = { name: voice.name, etag };
  const values = {
    name: voice.name, display_name: voice.display_name ?? "", folder: voice.folder, tags: voice.tags.join(", "), description: voice.description,
    ...Object.fromEntries(Object.entries(voice.defaults).map(([key, value]) => [`defaults.${key}`, value ?? ""])),
  };
  for (const control of form.elements) if (control.name) control.value = values[control.name] ?? "";
  $("#voice-editor-title").textContent = `Edit ${voice.name}`;
  $("#voice-editor").showModal();
}

function patchOf(form) {
  const value = (name) => form.elements[name].value.trim();
  const defaults = Object.fromEntries([...DEFAULTS.map(([name]) => name), "language"].map((name) => {
    const raw = value(`defaults.${name}`);
    return [name, raw === "" ? null : name === "language" ? raw : Number(raw)];
  }));
  return {
    name: value("name"), display_name: value("display_name") || null, description: value("description"), folder: value("folder"),
    tags: value("tags").split(",").map((tag) => tag.trim()).filter(Boolean), defaults,
  };
}

async function save(form, dialog) {
  try {
    await sendJson("PUT", `${path(editing.name)}/metadata`, patchOf(form), { headers: { "If-Match": editing.etag } });
  } catch (error) {
    if (error.status !== 412) throw error;
    const slot = showError(form, error);
    slot.prepend("Not saved: this voice was changed by someone else after you opened it. Reopen it to see the current version, then edit again. ");
    return;
  }
  dialog.close();
  announce("Voice saved.");
  changed();
}

// --- deleting, export, import ---------------------------------------------------------

async function deleteVoices(target, query) {
  const deleted = await confirmDeletion(target, query);
  if (deleted) { announce(`${deleted.count} voices deleted.`); changed(); }
}

function setUpImportExport(library) {
  const exportForm = $("#voice-export");
  exportForm.addEventListener("submit", (event) => {
    event.preventDefault();
    submitting(exportForm, async () => {
      const response = await call("GET", "/api/v1/voices/export", { query: selection(library.values()) });
      const name = /filename="?([^";]+)"?/.exec(response.headers.get("Content-Disposition") ?? "")?.[1] ?? "voices.zip";
      saveBlob(await response.blob(), name);
    });
  });
  $("#voice-delete-matching").addEventListener("click", () => {
    const chosen = selection(library.values());
    const filtered = chosen.search || chosen.folder !== undefined || chosen.tag;
    deleteVoices("/api/v1/voices", { ...chosen, all: filtered ? undefined : true });
  });
  const importForm = $("#voice-import");
  importForm.addEventListener("submit", (event) => {
    event.preventDefault();
    submitting(importForm, async () => {
      const body = new FormData(importForm);
      if (!importForm.elements.archive.files.length) body.delete("archive");
      const answer = await sendForm("/api/v1/voices/import", body);
      $("#voice-import-results").replaceChildren(...answer.results.map((result) =>
        el("li", { class: result.status === "failed" ? "failed" : "ok" }, el("strong", { text: result.name }),
        `: ${result.status}${result.imported_as && result.imported_as !== result.name ? ` as ${result.imported_as}` : ""}${result.error ? ` (${result.error})` : ""}`)));
      announce(Object.entries(answer.counts).map(([status, count]) => `${count} ${status}`).join(", "));
      changed();
    });
  });
}
