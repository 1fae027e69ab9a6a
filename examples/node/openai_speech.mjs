// The official openai npm package against the OpenAI-compatible route: whole, then streamed.
//   cd examples/node && npm ci
//   CHATTERBOX_URL=http://localhost:3000 CHATTERBOX_API_KEY=... node openai_speech.mjs alex
import { createWriteStream } from "node:fs";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import OpenAI from "openai";

const voice = process.argv[2];
const client = new OpenAI({
  baseURL: `${process.env.CHATTERBOX_URL ?? "http://localhost:3000"}/v1`,
  apiKey: process.env.CHATTERBOX_API_KEY || "no-key", // the package insists on one; the server ignores it when keys are off
  timeout: 600_000, // long texts take a while
});
const work = await mkdtemp(join(tmpdir(), "chatterbox-"));
const model = (await client.models.list()).data[0].id; // tts-1, tts-1-hd, ...: which depends on the models served

const whole = await client.audio.speech.create({ model, voice, input: "Hello from Node.", response_format: "wav" });
const audio = Buffer.from(await whole.arrayBuffer());
await writeFile(join(work, "hello.wav"), audio);
console.log("whole:", audio.length, "bytes");

const streamed = await client.audio.speech.create({ model, voice, input: "Written while it is generated.", response_format: "mp3" });
await pipeline(Readable.fromWeb(streamed.body), createWriteStream(join(work, "streamed.mp3")));
console.log("streamed:", streamed.headers.get("x-output-filename"));
