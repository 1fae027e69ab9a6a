"""Streaming benchmark: time to the first audio byte against total time, streamed or not.

Starts `bentoml serve` (random-weight models unless CHATTERBOX_MODEL_SOURCE says otherwise;
set CHATTERBOX_DEVICE=cuda on a GPU machine), uploads a voice, then speaks the same
10-sentence text with the same seed three ways, interleaved so drift hits each alike:

- `whole`: POST /api/v1/tts with response_mode=stream: the bytes come once all is generated;
- `api_stream_chunks`: the same with stream_chunks=true;
- `openai_stream`: POST /v1/audio/speech (always streamed while generated).

For each it reports the median time to the first byte and to the last, the audio's length,
and the seconds of work per second of audio; the headline is the streamed first byte as a
fraction of the whole request's. (Random mode ends each group or chunk after a plausible
length for its text, capped at `--max-new-tokens`, so the streamed and whole requests make
different amounts of audio: the per-audio-second figure is the fair comparison of totals.
S3Gen is the full-size one, as in docs/performance.md.)

Run: .venv/bin/python benchmarks/streaming_ttfb.py [--requests 2] [--max-new-tokens 100]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from audio.decoding import decode  # noqa: E402
from benchmarks.results import add_json_option, publish  # noqa: E402
from harness.processes import free_port, start_bentoml, stop  # noqa: E402
from harness.testdata import TESTDATA  # noqa: E402

TEXT = (
    "The museum opens at nine. The first tour leaves from the main hall. "
    "Please bring your ticket and a bottle of water. Comfortable shoes are a good idea. "
    "Our guide explains the history of each painting. We walk slowly through the rooms. "
    "At noon we stop for lunch in the garden cafe. The afternoon is free for exploring. "
    "The gift shop closes at five. We hope you enjoy your visit."
)


def timed(client: httpx.Client, path: str, body: dict) -> tuple[float, float, float]:
    """Seconds to the first body byte, to the last, and seconds of audio received."""
    started = time.perf_counter()
    first = None
    data = b""
    with client.stream("POST", path, json=body) as response:
        response.raise_for_status()
        for piece in response.iter_raw():
            if first is None and piece:
                first = time.perf_counter() - started
            data += piece
    return first or 0.0, time.perf_counter() - started, decode(data).duration_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2, help="requests per mode")
    add_json_option(parser)
    parser.add_argument("--max-new-tokens", type=int, default=100, help="speech tokens per group (random weights rarely stop by themselves)")
    parser.add_argument("--voice-seconds", type=float, default=3.0, help="length of the reference clip (S3Gen's prompt)")
    args = parser.parse_args()
    assert TEXT.count(".") == 10
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        port = free_port()
        env = {
            "STORAGE_BACKEND": "local", "STORAGE_DIR": str(work / "data"), "BENTOML_HOME": str(work / "bentoml"),
            "CHATTERBOX_TTS__MAX_NEW_TOKENS": str(args.max_new_tokens), "CHATTERBOX_MODEL__RANDOM_S3GEN": "full",
        }
        service = start_bentoml(env, work / "serve.log", port)
        try:
            client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=3600)
            samples, rate = sf.read(TESTDATA / "voice_alex.wav", dtype="float32")
            clip = io.BytesIO()
            sf.write(clip, samples[: int(args.voice_seconds * rate)], rate, format="WAV")
            client.post("/api/v1/voice", files={"file": ("alex.wav", clip.getvalue())}, data={"name": "bench"}).raise_for_status()
            health = client.get("/api/v1/health").json()["tts"]
            modes = {
                "whole": ("/api/v1/tts", {"text": TEXT, "voice": "bench", "output_format": "mp3", "response_mode": "stream"}),
                "api_stream_chunks": ("/api/v1/tts", {"text": TEXT, "voice": "bench", "output_format": "mp3", "response_mode": "stream", "stream_chunks": True}),
                "openai_stream": ("/v1/audio/speech", {"model": "tts-1-hd", "input": TEXT, "voice": "bench", "response_format": "mp3"}),
            }
            results: dict[str, dict[str, list[float]]] = {mode: {"first": [], "total": [], "audio": []} for mode in modes}
            for number in range(args.requests):
                for mode, (path, body) in modes.items():
                    first, total, audio = timed(client, path, body | {"seed": number})
                    results[mode]["first"].append(first)
                    results[mode]["total"].append(total)
                    results[mode]["audio"].append(audio)
            whole_first = statistics.median(results["whole"]["first"])
            report = {
                mode: {
                    "first_byte_seconds_median": round(statistics.median(values["first"]), 2),
                    "total_seconds_median": round(statistics.median(values["total"]), 2),
                    "first_byte_over_total": round(statistics.median(values["first"]) / statistics.median(values["total"]), 3),
                    "first_byte_vs_whole_first_byte": round(statistics.median(values["first"]) / whole_first, 3),
                    "audio_seconds_median": round(statistics.median(values["audio"]), 2),
                    "seconds_per_audio_second_median": round(statistics.median(t / a for t, a in zip(values["total"], values["audio"], strict=True)), 2),
                }
                for mode, values in results.items()
            }
            publish({"device": health["device"], "model_source": health["source"], "requests_per_mode": args.requests, "sentences": 10, "results": report}, args.json)
        finally:
            stop(service)


if __name__ == "__main__":
    main()
