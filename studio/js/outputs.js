// Outputs: browse what was generated (search, type, voice, sort, pages), play, see the
// metadata, download, delete, or add to the Join list.

import { call, getJson, outputPath as path } from "./api.js";
import { playPath } from "./audio.js";
import { PagedList } from "./paged_list.js";
import { $, announce, el, saveBlob, seconds, showError, when } from "./ui.js";

const PAGE_SIZE = 20;
const TYPES = { tts: "Speech", vc: "Conversion", concat: "Join" };

export function setUpOutputs(join) {
  const browser = new OutputBrowser(join);
  document.addEventListener("studio:output", () => browser.list.load());
  browser.list.load();
  return browser;
}

class OutputBrowser {
  constructor(join) {
    this.join = join;
    this.list = new PagedList("output", {
      label: "Outputs", empty: "No output matches.", rowsOf: (output) => this.rows(output),
      fetchPage: (values, page) => getJson("/api/v1/outputs", { ...values, search: values.search.trim(), voice: values.voice.trim(), page, page_size: PAGE_SIZE }),
    });
  }

  // The output's row, and a hidden row under it with the metadata.
  rows(output) {
    const name = output.filename;
    const details = el("tr", { class: "details", hidden: true }, el("td", { colspan: 5 }, el("pre", { text: JSON.stringify(output, null, 2) })));
    const toggle = el("button", { type: "button", class: "secondary", text: "Details", "aria-expanded": "false", "aria-label": `Details of ${name}` });
    toggle.addEventListener("click", () => {
      details.hidden = !details.hidden;
      toggle.setAttribute("aria-expanded", String(!details.hidden));
    });
    const row = el("tr", { "data-output": name },
      el("th", { scope: "row" }, el("code", { text: name })),
      el("td", { text: [TYPES[output.type], output.voice].filter(Boolean).join(" · ") }),
      el("td", { text: seconds(output.duration_seconds) }),
      el("td", { text: when(output.created_at) }),
      el("td", {}, el("div", { class: "row-actions" },
        el("button", { type: "button", class: "secondary", text: "Play", "aria-label": `Play ${name}`, on: { click: () => this.play(name) } }),
        toggle,
        el("button", { type: "button", class: "secondary", text: "Download", "aria-label": `Download ${name}`, on: { click: () => this.download(name) } }),
        el("button", { type: "button", class: "secondary", text: "Add to join", "aria-label": `Add ${name} to the join list`, on: { click: () => this.join.addOutput(name) } }),
        this.deleteButton(name))));
    return [row, details];
  }

  async play(name) {
    $("#output-playing").textContent = `Playing ${name}`;
    await playPath($("#output-player"), path(name)).catch((error) => { $("#output-playing").textContent = error.message; });
  }

  async download(name) {
    try {
      saveBlob(await (await call("GET", path(name))).blob(), name);
    } catch (error) {
      showError(this.list.filter, error);
    }
  }

  // Two presses: the first asks, the second deletes (no modal for a single file).
  deleteButton(name) {
    const button = el("button", { type: "button", class: "danger", text: "Delete", "aria-label": `Delete ${name}` });
    button.addEventListener("click", async () => {
      if (!button.dataset.armed) {
        button.dataset.armed = "true";
        button.textContent = "Confirm delete";
        button.setAttribute("aria-label", `Confirm: delete ${name}`);
        return;
      }
      try {
        await call("DELETE", path(name));
        announce(`${name} deleted.`);
        this.list.load();
      } catch (error) {
        showError(this.list.filter, error);
      }
    });
    button.addEventListener("blur", () => {
      delete button.dataset.armed;
      button.textContent = "Delete";
      button.setAttribute("aria-label", `Delete ${name}`);
    });
    return button;
  }
}
