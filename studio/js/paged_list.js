// A searchable, paged list (the voices, the outputs): its filter form reloads it as the user
// types or picks, the table is marked busy while loading, and only the latest load's answer
// is shown (typing and changes made elsewhere overlap).

import { $, clearErrors, el, showError } from "./ui.js";

const DEBOUNCE_MS = 250;

export class PagedList {
  // `kind` names the elements (#voice-filter, #voice-table, #voice-caption, #voice-page,
  // #voice-prev, #voice-next); `fetchPage(values, page)` answers {items, total, total_exact, page,
  // page_size, pages};
  // `rowsOf(item)` gives its table rows.
  constructor(kind, { label, empty, fetchPage, rowsOf }) {
    Object.assign(this, { kind, label, empty, fetchPage, rowsOf });
    this.filter = $(`#${kind}-filter`);
    this.table = $(`#${kind}-table`);
    this.page = 1;
    this.asked = 0;
    this.timer = null; // a reload waiting for the typing to pause
    const changed = () => {
      this.table.setAttribute("aria-busy", "true");
      clearTimeout(this.timer);
      this.timer = setTimeout(() => { this.timer = null; this.page = 1; this.load(); }, DEBOUNCE_MS);
    };
    this.filter.addEventListener("input", changed); // typing
    this.filter.addEventListener("change", changed); // a select (some input methods send only this)
    this.filter.addEventListener("submit", (event) => { event.preventDefault(); this.page = 1; this.load(); });
    $(`#${kind}-prev`).addEventListener("click", () => { this.page -= 1; this.load(); });
    $(`#${kind}-next`).addEventListener("click", () => { this.page += 1; this.load(); });
  }

  values() {
    return Object.fromEntries(new FormData(this.filter));
  }

  async load() {
    clearErrors(this.filter);
    const ask = ++this.asked;
    this.table.setAttribute("aria-busy", "true");
    try {
      const page = await this.fetchPage(this.values(), this.page);
      if (ask === this.asked) this.show(page);
    } catch (error) {
      showError(this.filter, error);
    } finally {
      if (ask === this.asked && this.timer === null) this.table.removeAttribute("aria-busy");
    }
  }

  show(page) {
    const more = page.total_exact === false; // counting stopped at its cap: at least this many, and more pages
    $(`#${this.kind}-caption`).textContent = `${this.label}: ${page.total}${more ? "+" : ""} found`;
    const rows = page.items.flatMap((item) => this.rowsOf(item));
    $("tbody", this.table).replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 5, text: this.empty }))]));
    this.page = page.page;
    const pages = page.pages;  // the API's one paging rule: an empty listing has one page
    $(`#${this.kind}-page`).textContent = `Page ${page.page} of ${pages}${more ? "+" : ""}`;
    $(`#${this.kind}-prev`).disabled = page.page <= 1;
    $(`#${this.kind}-next`).disabled = page.page >= pages && !(more && page.items.length === page.page_size);
  }
}
