// Speak as you type: /api/v1/tts/stream, the WebSocket that takes text as it is written and
// speaks each sentence once its end is typed. Audio comes as a streamed WAV (16-bit, a header
// of unknown length first: the stored output is a file any player reads) and is played through
// Web Audio as it arrives; the service's events (started, sentence, cancelled, done, error) go
// to `onEvent`.

import { apiKey } from "./api.js";
import { joined, schedule, wavHeader } from "./audio.js";

export class LiveSession {
  constructor(start, onEvent) {
    const url = new URL("/api/v1/tts/stream", location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    this.socket = new WebSocket(url);
    this.socket.binaryType = "arraybuffer";
    this.sent = ""; // the text sent so far: what the field held when it was last read
    this.context = new AudioContext();
    this.at = null; // when the next samples play, on the context's clock
    this.header = null;
    this.pending = new Uint8Array(0); // received, not yet scheduled
    const key = apiKey.get();
    this.socket.addEventListener("open", () => this.send({ ...start, type: "start", ...(key ? { api_key: key } : {}) })); // a browser cannot set the header
    this.socket.addEventListener("message", (message) => {
      if (message.data instanceof ArrayBuffer) return this.play(new Uint8Array(message.data));
      onEvent(JSON.parse(message.data));
    });
    this.socket.addEventListener("close", (closed) => {
      onEvent({ type: "closed", code: closed.code });
      setTimeout(() => this.context.close(), Math.max(0, (this.at ?? 0) - this.context.currentTime) * 1000 + 500);
    });
  }

  get open() {
    return this.socket.readyState <= WebSocket.OPEN;
  }

  send(message) {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
    else this.socket.addEventListener("open", () => this.socket.send(JSON.stringify(message)), { once: true });
  }

  play(bytes) {
    this.pending = joined(this.pending, bytes);
    if (!this.header) {
      this.header = wavHeader(this.pending);
      if (!this.header) return;
      this.pending = this.pending.slice(this.header.dataOffset);
    }
    const usable = this.pending.length - (this.pending.length % 2);
    if (!usable) return;
    if (this.at === null) document.dispatchEvent(new Event("studio:live-sound"));
    this.at = schedule(this.context, this.pending.subarray(0, usable), this.header, this.at ?? this.context.currentTime + 0.05);
    this.pending = this.pending.slice(usable);
  }

  // What the text field holds now: the part after what was sent goes out (typing at its end);
  // an edit before it cannot be unsaid and waits for the next session.
  follow(text) {
    if (!text.startsWith(this.sent) || text.length === this.sent.length) return;
    this.send({ type: "text", text: text.slice(this.sent.length) });
    this.sent = text;
  }

  end() { this.send({ type: "end" }); }

  cancel() {
    this.send({ type: "cancel" });
    this.context.suspend(); // what was scheduled stops now
    this.context = new AudioContext();
    this.at = null;
  }
}
