// Calls to the service's API with the key kept in this tab's session storage. Every failure
// becomes an ApiError carrying the API's own message and the field it names (our shape
// `error.field`, OpenAI's `error.param`), so forms can show it next to that field.

const KEY_STORAGE = "chatterbox-studio.api-key";

export const apiKey = {
  get: () => sessionStorage.getItem(KEY_STORAGE),
  set: (key) => sessionStorage.setItem(KEY_STORAGE, key),
  forget: () => sessionStorage.removeItem(KEY_STORAGE),
};

export class ApiError extends Error {
  constructor(status, message, field = null, body = null) {
    super(message);
    this.status = status;
    this.field = field;
    this.body = body;
  }
}

function urlOf(path, query = {}) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(query)) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item !== undefined && item !== null && item !== "") url.searchParams.append(name, item);
    }
  }
  return url;
}

// The response when it is a success; otherwise throws ApiError. A 401 also tells the page
// (event `studio:unauthorized`) so it can ask for a key.
export async function call(method, path, { query, json, form, headers = {}, signal } = {}) {
  const init = { method, headers: { ...headers }, signal };
  const key = apiKey.get();
  if (key) init.headers.Authorization = `Bearer ${key}`;
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers["Content-Type"] = "application/json";
  } else if (form) {
    init.body = form;
  }
  let response;
  try {
    response = await fetch(urlOf(path, query), init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, `The service could not be reached (${error.message}); check that it is running.`);
  }
  if (response.ok) return response;
  const body = await response.json().catch(() => null);
  const detail = body?.error ?? {};
  const message = detail.message ?? `${response.status} ${response.statusText}`;
  const error = new ApiError(response.status, message, detail.field ?? detail.param ?? null, body);
  if (response.status === 401) document.dispatchEvent(new CustomEvent("studio:unauthorized", { detail: error }));
  throw error;
}

export async function getJson(path, query) {
  return (await call("GET", path, { query })).json();
}

export async function sendJson(method, path, json, options = {}) {
  return (await call(method, path, { ...options, json })).json();
}

export async function sendForm(path, form, options = {}) {
  return (await call("POST", path, { ...options, form })).json();
}

// The public OpenAPI document: the studio reads the parameters' valid ranges from it.
let schemas;
export async function schemaOf(name) {
  schemas ??= fetch("/openapi.json").then((response) => response.json()).then((document) => document.components.schemas);
  return (await schemas)[name];
}

// The output formats the studio offers: the API's, less `pcm` (raw samples are neither
// playable nor a file to keep).
export async function fileFormats() {
  return (await schemaOf("OutputFormat")).enum.filter((format) => format !== "pcm");
}

export const outputPath = (filename) => `/api/v1/outputs/${encodeURIComponent(filename)}`;

// {minimum, maximum, type} of a (possibly optional) numeric property of a schema.
export function rangeOf(property) {
  const number = property.anyOf?.find((option) => option.type === "number" || option.type === "integer") ?? property;
  return { minimum: number.minimum, maximum: number.maximum, type: number.type };
}
