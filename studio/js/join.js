// Join: an ordered list of outputs, uploads and silences, joined by POST /api/v1/concat.
// Short joins are answered at once; long ones become a job whose progress and ETA are
// polled from GET /api/v1/jobs/{id} until it succeeds, fails or is cancelled.

import { call, fileFormats, getJson } from "./api.js";
import { showOutput } from "./audio.js";
import { $, announce, el, fillSelect, formValues, seconds, submitting } from "./ui.js";

const POLL_MS = 500;
const DONE = ["succeeded", "failed", "cancelled"];
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export async function setUpJoin() {
  const join = new JoinList();
  fillSelect($("#join-format"), (await fileFormats()).map((format) => [format, format]), "wav");
  return join;
}

class JoinList {
  constructor() {
    this.items = []; // {output} | {file} | {silence_ms}
    this.form = $("#join-form");
    this.job = null;
    $("#join-add-output").addEventListener("click", () => {
      const name = this.form.elements["inputs.output"].value.trim();
      if (name) this.addOutput(name);
      this.form.elements["inputs.output"].value = "";
    });
    $("#join-add-silence").addEventListener("click", () => this.add({ silence_ms: Number(this.form.elements["inputs.silence_ms"].value) }));
    $("#join-upload").addEventListener("change", (event) => {
      [...event.target.files].forEach((file) => this.add({ file }));
      event.target.value = "";
    });
    this.form.elements["inputs.output"].addEventListener("input", () => this.suggest());
    $("#join-cancel").addEventListener("click", () => this.job && call("DELETE", this.job).catch(() => {}));
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      submitting(this.form, () => this.run());
    });
    this.render();
  }

  addOutput(name) {
    this.add({ output: name });
    announce(`${name} added to the join list (${this.items.length} segments).`);
  }

  add(item) {
    this.items.push(item);
    this.render();
  }

  async suggest() {
    const page = await getJson("/api/v1/outputs", { search: this.form.elements["inputs.output"].value.trim(), page_size: 20 }).catch(() => ({ items: [] }));
    $("#join-outputs").replaceChildren(...page.items.map((output) => el("option", { value: output.filename })));
  }

  move(index, by) {
    const [item] = this.items.splice(index, 1);
    this.items.splice(index + by, 0, item);
    this.render();
    this.form.querySelectorAll("#join-list li")[index + by]?.querySelector(by < 0 ? ".up" : ".down")?.focus();
  }

  render() {
    const last = this.items.length - 1;
    $("#join-list").replaceChildren(...this.items.map((item, index) => {
      const label = item.output ? `Output ${item.output}` : item.file ? `Upload ${item.file.name}` : `Silence ${item.silence_ms} ms`;
      return el("li", {},
        el("span", { text: label }),
        el("span", { class: "row-actions" },
          el("button", { type: "button", class: "secondary up", text: "↑", "aria-label": `Move ${label} up`, disabled: index === 0, on: { click: () => this.move(index, -1) } }),
          el("button", { type: "button", class: "secondary down", text: "↓", "aria-label": `Move ${label} down`, disabled: index === last, on: { click: () => this.move(index, 1) } }),
          el("button", { type: "button", class: "danger", text: "Remove", "aria-label": `Remove ${label}`, on: { click: () => { this.items.splice(index, 1); this.render(); } } })));
    }));
    $("#join-empty").hidden = this.items.length > 0;
  }

  // The ConcatRequest, as JSON or (with uploads) multipart with the files.
  request() {
    const files = this.items.filter((item) => item.file).map((item) => item.file);
    const inputs = this.items.map((item) => (item.file ? { upload: files.indexOf(item.file) } : item));
    const options = formValues(this.form, ["crossfade_ms", "pause_ms", "normalize", "target_lufs", "output_format"]);
    const body = { inputs, ...options };
    if (!files.length) return { json: body };
    const form = new FormData();
    form.append("request", JSON.stringify(body));
    files.forEach((file) => form.append("files", file));
    return { form };
  }

  async run() {
    if (!this.items.length) throw Object.assign(new Error("Add at least one segment to join."), { field: "inputs.output" });
    $("#join-result").hidden = true;
    this.progress({ percent: 0, eta_seconds: null }, "Starting…");
    const response = await call("POST", "/api/v1/concat", this.request());
    const answer = await response.json();
    const output = response.status === 202 ? await this.follow(answer) : answer;
    this.progress({ percent: 100, eta_seconds: 0 }, "Done");
    await showOutput("join", output.filename);
    announce(`Joined into ${output.filename}.`);
  }

  // Polls the job until it ends: its output, or an error saying it failed or was cancelled.
  async follow(job) {
    this.job = new URL(job.url, location.origin).pathname;
    $("#join-cancel").hidden = false;
    try {
      for (;;) {
        this.progress(job.progress, job.status === "queued" ? "Queued" : "Joining");
        if (DONE.includes(job.status)) break;
        await sleep(POLL_MS);
        job = await getJson(this.job);
      }
    } finally {
      $("#join-cancel").hidden = true;
      this.job = null;
    }
    if (job.status === "succeeded") return job.result;
    throw new Error(job.status === "cancelled" ? "The join was cancelled; nothing was stored." : `The join failed: ${job.error?.message ?? "see the service log"}`);
  }

  progress(progress, state) {
    $("#join-progress").hidden = false;
    $("#join-bar").value = progress.percent;
    const eta = progress.eta_seconds ? `, about ${seconds(progress.eta_seconds)} left` : "";
    $("#join-status").textContent = `${state}: ${Math.round(progress.percent)} %${eta}`;
  }
}
