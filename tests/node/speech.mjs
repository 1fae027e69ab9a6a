// The official openai npm package against a running service: one whole request, one read
// as a stream, one refused. Prints one JSON line for tests/test_openai_api.py to check.
// Usage: node speech.mjs <base URL ending in /v1> <API key> <voice>
import OpenAI from "openai";

const [baseURL, apiKey, voice] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 600_000 });
const input = "Hello from Node. This one streams in pieces.";

const whole = await client.audio.speech.create({ model: "tts-1-hd", voice, input: "Hello from Node.", response_format: "wav" });
const wholeBytes = Buffer.from(await whole.arrayBuffer());

const streamed = await client.audio.speech.create({ model: "gpt-4o-mini-tts", voice: { id: voice }, input, response_format: "pcm" });
const pieces = [];
for await (const piece of streamed.body) {
  pieces.push(Buffer.from(piece));
}

let refused = null;
try {
  await client.audio.speech.create({ model: "tts-1-hd", voice, input: "x".repeat(4097) });
} catch (error) {
  refused = { name: error.constructor.name, status: error.status, param: error.param, type: error.type };
}

console.log(JSON.stringify({
  whole: { contentType: whole.headers.get("content-type"), voice: whole.headers.get("x-voice-resolved"), audio: wholeBytes.toString("base64") },
  streamed: { contentType: streamed.headers.get("content-type"), pieces: pieces.length, audio: Buffer.concat(pieces).toString("base64") },
  refused,
}));
