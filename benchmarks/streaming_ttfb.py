"""Streaming benchmark: time to the first audio byte against total time, and how long a short
request waits behind a long one; with `--baseline REF`, that commit measured first, then this tree.

Starts `bentoml serve` (random-weight models unless CHATTERBOX_MODEL_SOURCE says otherwise;
set CHATTERBOX_DEVICE=cuda on a GPU machine), uploads a voice, then, interleaved so drift
hits each alike:

- `whole`: the 10-sentence text through POST /api/v1/tts with response_mode=stream: the bytes
  come once all is generated;
- `api_stream_chunks`: the same with stream_chunks=true;
- `openai_stream`: the same text through POST /v1/audio/speech (always streamed);
- `one_sentence_stream`: one sentence of about 200 characters without a comma through
  /v1/audio/speech: the time to first audio a voice agent's listener feels;
- `short_during_long`: one unstreamed chunk of about 290 characters, and `--short-after`
  seconds later "Hi there.": the short request's latency over the long one's (it waited for
  the long one's whole T3 loop before continuous batching).

For each streamed mode it reports the median time to the first byte and to the last, the
audio's length, and the seconds of work per second of audio. (Random mode ends each group or
chunk after a plausible length for its text, capped at `--max-new-tokens`, so the streamed and
whole requests make different amounts of audio: the per-audio-second figure is the fair
comparison of totals. S3Gen is the full-size one, as in docs/performance.md.)

Run: .venv/bin/python benchmarks/streaming_ttfb.py [--baseline REF] [--requests 2] [--max-new-tokens 100] [--modes ...]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from audio.decoding import decode  # noqa: E402
from benchmarks.baseline import add_baseline_option, beside_baseline  # noqa: E402
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
SENTENCE = (
    "The old lighthouse keeper climbed the narrow stairs every evening at dusk to light the great lamp "
    "that guided the fishing boats safely home across the dark and restless water of the bay."
)
LONG_CHUNK = (
    "The committee met on Tuesday to review the budget for the coming year and after a long discussion "
    "about the costs of the new library building and the repairs to the old town hall it agreed to ask "
    "the council for more money while promising to cut spending on events and to publish every expense."
)
SHORT = "Hi there."
PCM_RATE = 24_000  # OpenAI's pcm: 16-bit mono at 24 kHz
MODES = ("whole", "api_stream_chunks", "openai_stream", "one_sentence_stream", "short_during_long")


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
    return first or 0.0, time.perf_counter() - started, decode(data, raw_pcm_rate=PCM_RATE if body.get("response_format") == "pcm" else None).duration_seconds


def latency(client: httpx.Client, text: str, seed: int) -> float:
    started = time.perf_counter()
    client.post("/api/v1/tts", json={"text": text, "voice": "bench", "seed": seed}).raise_for_status()
    return time.perf_counter() - started


def short_during_long(url: str, seed: int, short_after: float) -> tuple[float, float]:
    """Latencies of the short request and of the long one it was sent during."""
    with httpx.Client(base_url=url, timeout=3600) as first, httpx.Client(base_url=url, timeout=3600) as second, ThreadPoolExecutor(1) as pool:
        long = pool.submit(latency, first, LONG_CHUNK, seed)
        time.sleep(short_after)
        short = latency(second, SHORT, seed)
        return short, long.result()


def medians(values: dict[str, list[float]]) -> dict[str, float]:
    first, total = statistics.median(values["first"]), statistics.median(values["total"])
    return {
        "first_byte_seconds_median": round(first, 2),
        "total_seconds_median": round(total, 2),
        "first_byte_over_total": round(first / total, 3),
        "audio_seconds_median": round(statistics.median(values["audio"]), 2),
        "seconds_per_audio_second_median": round(statistics.median(t / a for t, a in zip(values["total"], values["audio"], strict=True)), 2),
    }


def measure(root: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Every mode of `args.modes` on a stack served from `root`."""
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        port = free_port()
        env = {
            "STORAGE_BACKEND": "local", "STORAGE_DIR": str(work / "data"), "BENTOML_HOME": str(work / "bentoml"),
            "CHATTERBOX_TTS__MAX_NEW_TOKENS": str(args.max_new_tokens), "CHATTERBOX_MODEL__RANDOM_S3GEN": args.s3gen,
        }
        service = start_bentoml(env, work / "serve.log", port, root=root)
        try:
            url = f"http://127.0.0.1:{port}"
            client = httpx.Client(base_url=url, timeout=3600)
            samples, rate = sf.read(TESTDATA / "voice_alex.wav", dtype="float32")
            clip = io.BytesIO()
            sf.write(clip, samples[: int(args.voice_seconds * rate)], rate, format="WAV")
            client.post("/api/v1/voice", files={"file": ("alex.wav", clip.getvalue())}, data={"name": "bench"}).raise_for_status()
            health = client.get("/api/v1/health").json()["tts"]
            streamed = {
                "whole": ("/api/v1/tts", {"text": TEXT, "voice": "bench", "output_format": "mp3", "response_mode": "stream"}),
                "api_stream_chunks": ("/api/v1/tts", {"text": TEXT, "voice": "bench", "output_format": "mp3", "response_mode": "stream", "stream_chunks": True}),
                "openai_stream": ("/v1/audio/speech", {"model": "tts-1-hd", "input": TEXT, "voice": "bench", "response_format": "mp3"}),
                "one_sentence_stream": ("/v1/audio/speech", {"model": "tts-1-hd", "input": SENTENCE, "voice": "bench", "response_format": "pcm"}),
            }
            streamed = {mode: request for mode, request in streamed.items() if mode in args.modes}
            results: dict[str, dict[str, list[float]]] = {mode: {"first": [], "total": [], "audio": []} for mode in streamed}
            waits: dict[str, list[float]] = {"short": [], "long": []}
            for number in range(args.requests):
                for mode, (path, body) in streamed.items():
                    first, total, audio = timed(client, path, body | {"seed": number})
                    results[mode]["first"].append(first)
                    results[mode]["total"].append(total)
                    results[mode]["audio"].append(audio)
                if "short_during_long" in args.modes:
                    short, long = short_during_long(url, number, args.short_after)
                    waits["short"].append(short)
                    waits["long"].append(long)
            report: dict[str, Any] = {"device": health["device"], "model_source": health["source"], "results": {mode: medians(values) for mode, values in results.items()}}
            if waits["short"]:
                short, long = statistics.median(waits["short"]), statistics.median(waits["long"])
                report["short_during_long"] = {"short_seconds_median": round(short, 2), "long_seconds_median": round(long, 2), "short_over_long": round(short / long, 3)}
            return report
        finally:
            stop(service)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2, help="requests per mode")
    add_json_option(parser)
    add_baseline_option(parser)
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--max-new-tokens", type=int, default=100, help="speech tokens per group (random weights rarely stop by themselves)")
    parser.add_argument("--voice-seconds", type=float, default=3.0, help="length of the reference clip (S3Gen's prompt)")
    parser.add_argument("--s3gen", choices=("full", "small"), default="full", help="random S3Gen's size (small: the tests' quick one)")
    parser.add_argument("--short-after", type=float, default=0.5, help="seconds into the long chunk that the short request is sent")
    args = parser.parse_args()
    assert TEXT.count(".") == 10 and "," not in SENTENCE
    trees = beside_baseline(args.baseline, lambda root: measure(root, args))
    report = trees["this tree"] | {"requests_per_mode": args.requests, "max_new_tokens": args.max_new_tokens, "s3gen": args.s3gen}
    if args.baseline:
        report["baseline"] = {"ref": args.baseline} | trees[f"baseline {args.baseline}"]
    publish(report, args.json)


if __name__ == "__main__":
    main()
