// Small DOM helpers shared by the panels: building elements, showing an API error next to
// the field it names, announcing to screen readers, saving a download.

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "text") node.textContent = value;
    else if (name === "on") for (const [event, handler] of Object.entries(value)) node.addEventListener(event, handler);
    else if (name in node && typeof value !== "string") node[name] = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

export const $ = (selector, root = document) => root.querySelector(selector);

export function announce(text) {
  const announcer = $("#announcer");
  announcer.textContent = "";
  requestAnimationFrame(() => { announcer.textContent = text; });
}

export function clearErrors(form) {
  for (const node of form.querySelectorAll(".field-error, .form-error")) node.textContent = "";
  for (const node of form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
}

// The control the API's `field` names: `inputs.output` or `defaults.exaggeration` as named,
// else by its last part (`exaggeration`), else none (the message goes to the form's slot).
function controlFor(form, field) {
  if (!field) return null;
  const names = [field, field.split(".").at(-1)];
  for (const name of names) {
    const control = form.querySelector(`[name="${CSS.escape(name)}"]`);
    if (control) return control;
  }
  return null;
}

function errorSlotOf(control) {
  const field = control.closest(".field") ?? control.parentElement;
  let slot = field.querySelector(":scope > .field-error");
  if (!slot) {
    slot = el("p", { class: "field-error", id: `${control.id || control.name}-error`, role: "alert" });
    field.append(slot);
    control.setAttribute("aria-describedby", `${control.getAttribute("aria-describedby") ?? ""} ${slot.id}`.trim());
  }
  return slot;
}

// Shows an error (ApiError or any Error) in `form`: next to the field it names when the form
// has it, else in the form's general slot. Returns the node that holds the message.
export function showError(form, error) {
  const control = controlFor(form, error.field);
  const slot = control ? errorSlotOf(control) : $(".form-error", form);
  slot.textContent = error.message;
  if (control) {
    control.setAttribute("aria-invalid", "true");
    control.focus();
  }
  return slot;
}

// Runs `work` with the form's submit button disabled, its old errors cleared and a new one shown.
export async function submitting(form, work) {
  const buttons = form.querySelectorAll("button[type=submit]");
  clearErrors(form);
  buttons.forEach((button) => { button.disabled = true; });
  form.setAttribute("aria-busy", "true");
  try {
    return await work();
  } catch (error) {
    if (error.name !== "AbortError") showError(form, error);
    return undefined;
  } finally {
    buttons.forEach((button) => { button.disabled = false; });
    form.removeAttribute("aria-busy");
  }
}

export function saveBlob(blob, filename) {
  const link = el("a", { href: URL.createObjectURL(blob), download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
}

export function seconds(value) {
  if (value === null || value === undefined) return "";
  return value < 60 ? `${value.toFixed(1)} s` : `${Math.floor(value / 60)} min ${Math.round(value % 60)} s`;
}

export function when(iso) {
  return new Date(iso).toLocaleString();
}

// A <select>'s options from [value, label] pairs, keeping the current choice when it remains.
export function fillSelect(select, options, preferred) {
  const current = select.value || preferred;
  select.replaceChildren(...options.map(([value, label]) => el("option", { value, text: label })));
  if (options.some(([value]) => value === current)) select.value = current;
}

// A form's non-empty values; numbers as numbers.
export function formValues(form, names) {
  const values = {};
  for (const name of names) {
    const control = form.elements[name];
    if (!control || control.value === "") continue;
    values[name] = control.type === "number" ? Number(control.value) : control.value;
  }
  return values;
}

// Number inputs for the parameters, with the valid range the API's schema gives.
export function numberField(id, name, label, range, step) {
  const hint = `${range.minimum} to ${range.maximum}`;
  return el("div", { class: "field" },
    el("label", { for: id, text: label }),
    el("input", { id, name, type: "number", min: range.minimum, max: range.maximum, step: step ?? (range.type === "integer" ? 1 : 0.05), "aria-describedby": `${id}-range` }),
    el("p", { id: `${id}-range`, class: "hint", text: hint }));
}

// Keeps one object URL per media element, revoking the previous one (`media`: a Blob or a MediaSource).
export function setSource(audio, media) {
  if (audio.src.startsWith("blob:")) URL.revokeObjectURL(audio.src);
  audio.src = URL.createObjectURL(media);
  return audio.src;
}
