// A voice field with suggestions: fixed names (aliases, predefined files, the built-in
// voice) plus the library voices matching what is typed (GET /api/v1/voices?search=).

import { getJson } from "./api.js";
import { el } from "./ui.js";

const SUGGESTIONS = 20;

export function searchVoices(input, datalist, fixed = []) {
  let timer;
  let asked = 0;
  const refresh = async () => {
    const ask = ++asked;
    const page = await getJson("/api/v1/voices", { search: input.value.trim(), page_size: SUGGESTIONS }).catch(() => ({ items: [] }));
    if (ask !== asked) return; // a later keystroke's answer wins
    const library = page.items.map((voice) => el("option", { value: voice.name, text: voice.display_name ?? voice.folder ?? "" }));
    datalist.replaceChildren(...library, ...fixed.map((name) => el("option", { value: name })));
  };
  input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(refresh, 200); });
  input.addEventListener("focus", refresh);
  document.addEventListener("studio:voices-changed", refresh);
  refresh();
}
