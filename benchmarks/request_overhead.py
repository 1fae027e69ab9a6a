"""Request overhead: what the API moves and spends around the model, this tree beside a baseline.

On a GPU the model is fast, so the work around it sets latency and throughput. For each
tree (with `--baseline REF`, that commit checked out in a temporary git worktree, then this
tree; one after the other in one run, same machine, same settings) it starts `bentoml serve`
with random weights on local storage, uploads a 7 s voice and measures:

- bytes per runner call: the request bodies of `decode` and `render` calls, read from the
  runners' access log, for a request whose voice the runner has not seen (cache miss) and for
  requests after it (cache hits); and everything sent to the runners for one long text;
- under load (`--requests` short texts from `--concurrency` clients), answered whole
  (/api/v1/tts) and then streamed (/v1/audio/speech, pcm): requests per second, the API
  process's CPU per request and per second of audio; then, in a third run of the same load
  (so its requests are not charged to the CPU figures), how late the event loop answers: a probe
  asks `GET /v1/models` (answered on the event loop, no thread pool, no storage) every 20 ms,
  and its latency's p50/p99/worst is the loop's lag plus a constant.

Prints one JSON report. Figures: docs/performance.md ("Request overhead").

Run: .venv/bin/python benchmarks/request_overhead.py [--baseline REF] [--requests 64] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.baseline import add_baseline_option, beside_baseline  # noqa: E402
from benchmarks.soak import SENTENCES, processes  # noqa: E402
from harness.stacks import RunningService, benchmark_stack  # noqa: E402
from harness.testdata import read_testdata  # noqa: E402

RUNNER_CALL = re.compile(r"\[service:chatterbox-(?:tts|vc)-runner:\d+\] .*?path=/(decode|render),type=[^,]*,length=(\d+)\)")
PROBE_SECONDS = 0.02
VOICE = "overhead-voice"
LONG_TEXT = " ".join(SENTENCES * 8)  # about 1,150 characters: several chunks
ENV = {
    "CHATTERBOX_MODEL__RANDOM_T3_LAYERS": "1",
    "CHATTERBOX_LIMITS__MAX_PENDING_GENERATIONS": "256",  # measure the path, not admission
}


class RunnerLog:
    """The runner calls the service log gained since the last `calls()`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size

    def calls(self) -> dict[str, list[int]]:
        with self.path.open("rb") as log:
            log.seek(self.offset)
            text = log.read().decode(errors="replace")
            self.offset = log.tell()
        found: dict[str, list[int]] = {"decode": [], "render": []}
        for path, length in RUNNER_CALL.findall(text):
            found[path].append(int(length))
        return found


def summary(calls: dict[str, list[int]]) -> dict[str, object]:
    return {path: {"calls": len(lengths), "mean_bytes": round(statistics.mean(lengths)) if lengths else None} for path, lengths in calls.items()} | {
        "total_bytes": sum(sum(lengths) for lengths in calls.values())
    }


class LoopProbe(threading.Thread):
    def __init__(self, service: RunningService) -> None:
        super().__init__(daemon=True)
        self.service = service
        self.latencies: list[float] = []
        self.done = threading.Event()

    def run(self) -> None:
        with self.service.new_client() as client:
            while not self.done.wait(PROBE_SECONDS):
                started = time.perf_counter()
                client.get("/v1/models").raise_for_status()
                self.latencies.append(time.perf_counter() - started)

    def report(self) -> dict[str, float]:
        ordered = sorted(self.latencies)
        return {
            "samples": len(ordered), "p50_ms": round(1000 * ordered[len(ordered) // 2], 1),
            "p99_ms": round(1000 * ordered[int(len(ordered) * 0.99)], 1), "worst_ms": round(1000 * ordered[-1], 1),
        }


def speak(client: httpx.Client, text: str) -> float:
    """A whole answer from /api/v1/tts; seconds of audio made."""
    response = client.post("/api/v1/tts", json={"text": text, "voice": VOICE, "seed": 1})
    response.raise_for_status()
    return response.json()["metadata"]["duration_seconds"]


def speak_streamed(client: httpx.Client, text: str) -> float:
    """A streamed answer (OpenAI pcm, 16-bit at 24 kHz) read as it comes; seconds of audio made."""
    received = 0
    with client.stream("POST", "/v1/audio/speech", json={"model": "tts-1-hd", "input": text, "voice": VOICE, "response_format": "pcm", "seed": 1}) as response:
        response.raise_for_status()
        for piece in response.iter_raw():
            received += len(piece)
    return received / 2 / 24_000


def load(service: RunningService, requests: int, concurrency: int, speaker: Callable[[httpx.Client, str], float], probed: bool = False) -> dict[str, object]:
    """`requests` short texts from `concurrency` clients: requests per second and the API
    process's CPU per request and per second of audio; `probed`: instead of the CPU (which
    the probe's own requests would inflate), how late the event loop answers."""
    api = processes(service)["api"]
    probe = LoopProbe(service)
    if probed:
        probe.start()
    cpu_before = sum(api.cpu_times()[:2])
    started = time.perf_counter()
    clients = [service.new_client() for _ in range(concurrency)]
    with ThreadPoolExecutor(concurrency) as pool:
        audio = list(pool.map(lambda index: speaker(clients[index % concurrency], SENTENCES[index % len(SENTENCES)]), range(requests)))
    seconds = time.perf_counter() - started
    cpu = sum(api.cpu_times()[:2]) - cpu_before
    for each in clients:
        each.close()
    measured: dict[str, object] = {"requests": requests, "concurrency": concurrency, "seconds": round(seconds, 1), "requests_per_second": round(requests / seconds, 3)}
    if probed:
        probe.done.set()
        probe.join()
        return measured | {"event_loop_probe": probe.report()}
    return measured | {
        "audio_seconds_per_request": round(sum(audio) / requests, 2), "api_cpu_ms_per_request": round(1000 * cpu / requests, 1),
        "api_cpu_ms_per_audio_second": round(1000 * cpu / sum(audio), 1),
    }


def measure(root: Path, requests: int, concurrency: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="overhead-") as folder, benchmark_stack("local", Path(folder), ENV, root=root) as service:
        client = service.client
        client.post("/api/v1/voice", files={"file": ("alex.wav", read_testdata("voice_alex.wav"))}, data={"name": VOICE}).raise_for_status()
        log = RunnerLog(Path(folder) / "serve.log")
        speak(client, SENTENCES[0])
        miss = log.calls()
        for sentence in SENTENCES[1:]:
            speak(client, sentence)
        hits = log.calls()
        speak(client, LONG_TEXT)
        long_text = log.calls()
        return {
            "bytes_per_runner_call": {"cache_miss": summary(miss), "cache_hits": summary(hits)},
            "long_text": {"characters": len(LONG_TEXT)} | summary(long_text),
            "load": load(service, requests, concurrency, speak),
            "load_streamed": load(service, requests, concurrency, speak_streamed),
            "load_probed": load(service, requests, concurrency, speak, probed=True),
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_baseline_option(parser)
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    report = beside_baseline(args.baseline, lambda root: measure(root, args.requests, args.concurrency))
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
