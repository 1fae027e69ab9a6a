// The native API (/api/v1) with plain fetch (Node 18+, no packages): a voice uploaded,
// speech stored and downloaded, the library listed, then both removed.
//   CHATTERBOX_URL=http://localhost:3000 CHATTERBOX_API_KEY=... node fetch_api.mjs my_voice.wav
import { readFile } from "node:fs/promises";
import { basename } from "node:path";

const url = process.env.CHATTERBOX_URL ?? "http://localhost:3000";
const auth = process.env.CHATTERBOX_API_KEY ? { Authorization: `Bearer ${process.env.CHATTERBOX_API_KEY}` } : {};

async function api(path, options = {}) {
  const response = await fetch(url + path, { ...options, headers: { ...auth, ...options.headers } });
  if (!response.ok) {
    const { error } = await response.json(); // every refusal names the field at fault
    throw new Error(`${response.status} ${error.type}: ${error.message} (field: ${error.field})`);
  }
  return response;
}

const form = new FormData();
form.append("file", new Blob([await readFile(process.argv[2])]), basename(process.argv[2]));
form.append("name", "fetch-example");
form.append("overwrite", "true");
const { voice } = await (await api("/api/v1/voice", { method: "POST", body: form })).json();
console.log("voice:", voice.name);

const spoken = await (await api("/api/v1/tts", {
  method: "POST",
  headers: { "Content-Type": "application/json" },
  body: JSON.stringify({ text: "Hello from fetch.", voice: voice.name, response_mode: "url", output_format: "mp3" }),
})).json();
const audio = await (await api(`/api/v1/outputs/${spoken.filename}`)).arrayBuffer();
console.log("spoken:", spoken.filename, audio.byteLength, "bytes");

const listing = await (await api(`/api/v1/voices?search=${voice.name}`)).json();
console.log("listed:", listing.items.map((item) => item.name));

try {
  await api("/api/v1/tts", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ text: "", voice: voice.name }) });
} catch (error) {
  console.log("refused:", error.message);
}

await api(`/api/v1/outputs/${spoken.filename}`, { method: "DELETE" });
await api(`/api/v1/voice/${voice.name}?confirm=true`, { method: "DELETE" });
console.log("deleted:", voice.name);
