// Audio in the page: playing a response while it streams, playing stored files fetched with
// the key (an <audio src> cannot send one), and recording the microphone as WAV.

import { call, outputPath } from "./api.js";
import { $, setSource } from "./ui.js";

// Formats the browser can play while they arrive (Media Source Extensions).
const STREAMABLE = { mp3: "audio/mpeg", aac: "audio/aac" };

function once(target, event) {
  return new Promise((resolve) => target.addEventListener(event, resolve, { once: true }));
}

// `audio` tells when it first plays (`studio:streaming`, as the Web Audio path does).
function onFirstSound(audio) {
  audio.addEventListener("playing", () => audio.dispatchEvent(new Event("studio:streaming")), { once: true });
}

async function appendAll(reader, buffer, parts) {
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    parts.push(value);
    buffer.appendBuffer(value);
    await once(buffer, "updateend");
  }
}

// Plays `response`'s body while it downloads (mp3 and aac through Media Source Extensions,
// wav through Web Audio) or once complete (flac, opus); resolves with the whole file as a Blob
// when the last byte arrived, which `audio` then holds for replay and seeking. `audio` gets a
// `studio:streaming` event when the first sound is handed to the speakers.
export async function playStream(audio, response, format, signal) {
  const type = STREAMABLE[format];
  if (type && window.MediaSource?.isTypeSupported(type)) return playThroughMediaSource(audio, response, type);
  if (format === "wav") return playThroughWebAudio(audio, response, signal);
  const blob = await response.blob();
  setSource(audio, blob);
  onFirstSound(audio);
  audio.play().catch(() => {});
  return blob;
}

async function playThroughMediaSource(audio, response, type) {
  const source = new MediaSource();
  setSource(audio, source);
  await once(source, "sourceopen");
  const buffer = source.addSourceBuffer(type);
  const parts = [];
  onFirstSound(audio);
  audio.play().catch(() => {});
  try {
    await appendAll(response.body.getReader(), buffer, parts);
  } finally {
    if (source.readyState === "open") source.endOfStream();
  }
  return new Blob(parts, { type });
}

// A WAV header's facts, once `bytes` hold all of it (null before).
export function wavHeader(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = (offset) => String.fromCharCode(...bytes.subarray(offset, offset + 4));
  if (bytes.length < 12) return null;
  if (tag(0) !== "RIFF" || tag(8) !== "WAVE") throw new Error("the service sent a WAV without a RIFF header");
  let format = null;
  for (let offset = 12; offset + 8 <= bytes.length; offset += 8 + view.getUint32(offset + 4, true)) {
    if (tag(offset) === "fmt " && offset + 24 <= bytes.length) {
      format = { channels: view.getUint16(offset + 10, true), sampleRate: view.getUint32(offset + 12, true), bits: view.getUint16(offset + 22, true) };
    }
    if (tag(offset) === "data" && format) return { ...format, dataOffset: offset + 8 };
  }
  return null;
}

// Schedules 16-bit samples to play after `at` (seconds on the context's clock); the end time.
export function schedule(context, bytes, header, at) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const frames = bytes.length / 2 / header.channels;
  const buffer = context.createBuffer(header.channels, frames, header.sampleRate);
  for (let channel = 0; channel < header.channels; channel += 1) {
    const samples = buffer.getChannelData(channel);
    for (let frame = 0; frame < frames; frame += 1) samples[frame] = view.getInt16((frame * header.channels + channel) * 2, true) / 32768;
  }
  const node = context.createBufferSource();
  node.buffer = buffer;
  node.connect(context.destination);
  const start = Math.max(at, context.currentTime);
  node.start(start);
  return start + buffer.duration;
}

// The streamed WAV with its sizes written in (a stream cannot know them when it starts).
function sealed(parts, header) {
  const whole = new Blob(parts, { type: "audio/wav" });
  return whole.arrayBuffer().then((buffer) => {
    const view = new DataView(buffer);
    view.setUint32(4, buffer.byteLength - 8, true);
    view.setUint32(header.dataOffset - 4, buffer.byteLength - header.dataOffset, true);
    return new Blob([buffer], { type: "audio/wav" });
  });
}

export function joined(first, second) {
  const bytes = new Uint8Array(first.length + second.length);
  bytes.set(first);
  bytes.set(second, first.length);
  return bytes;
}

async function playThroughWebAudio(audio, response, signal) {
  const context = new AudioContext();
  signal?.addEventListener("abort", () => context.close(), { once: true });
  const reader = response.body.getReader();
  const parts = [];
  let header = null;
  let pending = new Uint8Array(0); // received, not yet scheduled
  let at = null; // when the next samples play, on the context's clock
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    pending = joined(pending, value);
    if (!header) {
      header = wavHeader(pending);
      if (!header) continue;
      if (header.bits !== 16) throw new Error(`cannot play ${header.bits}-bit WAV while it streams`);
      pending = pending.slice(header.dataOffset);
    }
    const usable = pending.length - (pending.length % (2 * header.channels));
    if (!usable) continue;
    if (at === null) audio.dispatchEvent(new Event("studio:streaming"));
    at = schedule(context, pending.subarray(0, usable), header, at ?? context.currentTime + 0.05);
    pending = pending.slice(usable);
  }
  if (!header) throw new Error("the service sent no audio");
  const blob = await sealed(parts, header);
  setSource(audio, blob);
  setTimeout(() => context.close(), Math.max(0, (at ?? 0) - context.currentTime) * 1000 + 500);
  return blob;
}

// A stored output or voice reference, fetched with the key and played in `audio`.
export async function playPath(audio, path, query) {
  const blob = await (await call("GET", path, { query })).blob();
  setSource(audio, blob);
  await audio.play().catch(() => {});
  return blob;
}

// A stored output in a section's result box (#<section>-result): named, played, downloadable;
// the Outputs list hears of it.
export async function showOutput(section, filename) {
  $(`#${section}-filename`).textContent = filename;
  $(`#${section}-result`).hidden = false;
  const blob = await playPath($(`#${section}-audio`), outputPath(filename));
  const download = $(`#${section}-download`);
  if (download.href.startsWith("blob:")) URL.revokeObjectURL(download.href);
  Object.assign(download, { href: URL.createObjectURL(blob), download: filename });
  document.dispatchEvent(new CustomEvent("studio:output", { detail: filename }));
}

// 16-bit mono WAV of `samples` (Float32Array, -1..1).
export function wavOf(samples, sampleRate) {
  const view = new DataView(new ArrayBuffer(44 + samples.length * 2));
  const text = (offset, value) => [...value].forEach((char, i) => view.setUint8(offset + i, char.charCodeAt(0)));
  text(0, "RIFF"); view.setUint32(4, 36 + samples.length * 2, true); text(8, "WAVE");
  text(12, "fmt "); view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
  view.setUint32(24, sampleRate, true); view.setUint32(28, sampleRate * 2, true); view.setUint16(32, 2, true); view.setUint16(34, 16, true);
  text(36, "data"); view.setUint32(40, samples.length * 2, true);
  samples.forEach((sample, i) => view.setInt16(44 + i * 2, Math.max(-1, Math.min(1, sample)) * 0x7fff, true));
  return new Blob([view], { type: "audio/wav" });
}

// The microphone, recorded until stop() and returned as WAV: the browser's own recording
// (webm/opus) is decoded here, so the API gets a format it reads everywhere.
export async function startRecording() {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  const recorder = new MediaRecorder(stream);
  const chunks = [];
  recorder.addEventListener("dataavailable", (event) => chunks.push(event.data));
  recorder.start();
  return {
    async stop() {
      const stopped = once(recorder, "stop");
      recorder.stop();
      await stopped;
      stream.getTracks().forEach((track) => track.stop());
      const context = new AudioContext();
      try {
        const decoded = await context.decodeAudioData(await new Blob(chunks).arrayBuffer());
        return wavOf(decoded.getChannelData(0), decoded.sampleRate);
      } finally {
        context.close();
      }
    },
  };
}
