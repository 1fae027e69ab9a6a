// The studio page: tabs, the API key, the service's health line, and each panel's set-up.

import { ApiError, apiKey, getJson } from "./api.js";
import { setUpConvert } from "./convert.js";
import { setUpJoin } from "./join.js";
import { setUpOutputs } from "./outputs.js";
import { setUpSpeak } from "./speak.js";
import { $, showError, submitting } from "./ui.js";
import { setUpVoices } from "./voices.js";

function setUpTabs() {
  const tabs = [...document.querySelectorAll("[role=tab]")];
  const select = (tab) => {
    for (const each of tabs) {
      const selected = each === tab;
      each.setAttribute("aria-selected", String(selected));
      each.tabIndex = selected ? 0 : -1;
      $(`#${each.getAttribute("aria-controls")}`).hidden = !selected;
    }
    history.replaceState(null, "", `#${tab.getAttribute("aria-controls")}`);
  };
  tabs.forEach((tab, index) => {
    tab.addEventListener("click", () => select(tab));
    tab.addEventListener("keydown", (event) => { // arrow keys move between tabs (WAI-ARIA tabs pattern)
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      const target = step ? tabs[(index + step + tabs.length) % tabs.length] : { Home: tabs[0], End: tabs.at(-1) }[event.key];
      if (!target) return;
      event.preventDefault();
      target.focus();
      select(target);
    });
  });
  const initial = tabs.find((tab) => `#${tab.getAttribute("aria-controls")}` === location.hash);
  if (initial) select(initial);
}

function describe(health) {
  const models = Object.entries(health.models).map(([name, model]) => `${name}${model.ready ? "" : " (starting)"}`).join(", ");
  const source = health.tts.source === "random" ? " · random weights (noise, for testing)" : "";
  return `${health.status === "ok" ? "Ready" : health.status} · v${health.version} · models: ${models} · storage: ${health.storage.backend}${source}`;
}

// Resolves once a call that needs the key succeeds: at once when keys are off or the tab
// has a good one, else after the user typed one the API accepts.
async function authorized() {
  const form = $("#key-form");
  const probe = () => getJson("/api/v1/voices", { page_size: 1 });
  try {
    await probe();
    $("#forget-key").hidden = !apiKey.get();
    return;
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401) throw error;
  }
  form.hidden = false;
  if (apiKey.get()) showError(form, { field: "api_key", message: "The saved key was refused; enter a valid one." });
  $("#api-key").focus();
  await new Promise((resolve) => {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      submitting(form, async () => {
        apiKey.set(form.elements.api_key.value.trim());
        try {
          await probe();
        } catch (error) {
          apiKey.forget();
          throw error.status === 401 ? Object.assign(error, { field: "api_key" }) : error;
        }
        form.hidden = true;
        form.reset();
        $("#forget-key").hidden = false;
        resolve();
      });
    });
  });
}

async function start() {
  setUpTabs();
  $("#forget-key").addEventListener("click", () => { apiKey.forget(); location.reload(); });
  document.addEventListener("studio:unauthorized", () => { $("#key-form").hidden = false; }); // a key revoked meanwhile
  const health = await fetch("/api/v1/health").then((response) => response.json());
  $("#health").textContent = describe(health);
  await authorized();
  const join = await setUpJoin();
  await Promise.all([setUpSpeak(health), setUpVoices(), setUpConvert()]);
  setUpOutputs(join);
  document.body.dataset.ready = "true"; // for scripts and tests: every panel is set up
}

start().catch((error) => {
  $("#health").textContent = `The studio could not start: ${error.message}`;
});
