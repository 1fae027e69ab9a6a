"""Soak: mixed traffic at a steady concurrency for a fixed time, then the service's health.

Starts `bentoml serve` (random weights; local storage, or moto S3), uploads a few voices,
then `--concurrency` clients send a weighted mix for `--minutes`: TTS (whole and streamed),
VC, OpenAI speech, voice uploads, overwrites, edits and deletes, output listings, downloads,
HEADs and deletes, and concatenations of recent outputs. It samples the resident memory of
the API and of each runner every few seconds and, at the end, checks:

- no 5xx answer (429s from admission control are counted apart: they are the designed answer to overload);
- each process's RSS at the end within `--max-growth` (5 %) of its RSS once warmed up (one
  request of each generating kind before the clients start, then the first fifth of the run);
- the storage checker finds nothing, and the service's TMPDIR holds no file it did not hold before.

Prints a JSON report and exits 1 when a check fails. Figures: docs/performance.md.

Run: .venv/bin/python benchmarks/soak.py [--minutes 10] [--concurrency 16] [--backend local|s3] [--env NAME=VALUE ...]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.stacks import TEST_ENV, RunningService, benchmark_stack  # noqa: E402
from harness.testdata import read_testdata  # noqa: E402
from maintenance.storage_check import check_storage  # noqa: E402

SAMPLE_SECONDS = 5
WARM_UP_FRACTION = 0.2
SENTENCES = (
    "The train leaves at noon.", "Please close the door behind you.", "It rained all night, and the river rose.",
    "We will meet again next week to finish the plan.", "Turn left at the bakery, then walk two blocks.",
)
VOICE_FILES = ("voice_alex.wav", "voice_bella.wav", "voice_alex.mp3", "voice_bella.flac")


class Traffic:
    """One client's loop: a weighted choice of operations, each recorded by name and status."""

    def __init__(self, service: RunningService, deadline: float, seed: int, outputs: list[str], lock: threading.Lock) -> None:
        self.service = service
        self.deadline = deadline
        self.random = random.Random(seed)
        self.outputs = outputs  # recent output names, shared by all clients
        self.lock = lock
        self.counts: Counter[tuple[str, int]] = Counter()
        self.operations = [
            (self.tts, 25), (self.tts_streamed, 8), (self.vc, 8), (self.openai_speech, 5), (self.upload_voice, 8), (self.edit_voice, 6),
            (self.delete_voice, 3), (self.list_outputs, 12), (self.download_output, 10), (self.head_output, 5), (self.delete_output, 3), (self.concat, 7),
        ]

    def run(self) -> None:
        with self.service.new_client() as client:
            self.client = client
            work = [operation for operation, _ in self.operations]
            weights = [weight for _, weight in self.operations]
            while time.monotonic() < self.deadline:
                operation = self.random.choices(work, weights)[0]
                try:
                    status = operation()
                except httpx.HTTPError as exc:
                    status = -1
                    sys.stderr.write(f"{operation.__name__}: {type(exc).__name__}: {exc}\n")
                self.counts[(operation.__name__, status)] += 1

    def _voice(self) -> str:
        return f"soak-{self.random.randrange(6)}"

    def _remember(self, response: httpx.Response) -> None:
        if response.status_code == 200 and response.headers.get("content-type", "").startswith("application/json"):
            with self.lock:
                self.outputs.append(response.json()["filename"])
                del self.outputs[:-200]

    def _recent(self) -> str | None:
        with self.lock:
            return self.random.choice(self.outputs) if self.outputs else None

    def tts(self) -> int:
        response = self.client.post("/api/v1/tts", json={"text": self.random.choice(SENTENCES), "voice": self._voice(), "output_format": self.random.choice(["wav", "mp3"])})
        self._remember(response)
        return response.status_code

    def tts_streamed(self) -> int:
        body = {"text": " ".join(self.random.sample(SENTENCES, 2)), "voice": self._voice(), "response_mode": "stream", "stream_chunks": True}
        with self.client.stream("POST", "/api/v1/tts", json=body) as response:
            for _ in response.iter_bytes():
                pass
            return response.status_code

    def vc(self) -> int:
        response = self.client.post("/api/v1/vc", files={"input_audio": ("src.wav", read_testdata("source_speech_16k.wav"))}, data={"target_voice": self._voice()})
        self._remember(response)
        return response.status_code

    def openai_speech(self) -> int:
        response = self.client.post("/v1/audio/speech", json={"model": "tts-1-hd", "input": self.random.choice(SENTENCES), "voice": self._voice(), "response_format": "opus"})
        return response.status_code

    def upload_voice(self) -> int:
        clip = self.random.choice(VOICE_FILES)
        response = self.client.post("/api/v1/voice", files={"file": (clip, read_testdata(clip))}, data={"name": self._voice(), "overwrite": "true"})
        return response.status_code

    def edit_voice(self) -> int:
        response = self.client.put(f"/api/v1/voice/{self._voice()}/metadata", json={"description": f"edited {self.random.random():.6f}", "tags": ["soak"]})
        return response.status_code

    def delete_voice(self) -> int:
        return self.client.delete("/api/v1/voice/soak-5", params={"confirm": "true"}).status_code  # only the sixth: the others keep speaking

    def list_outputs(self) -> int:
        return self.client.get("/api/v1/outputs", params={"page_size": 20, "type": self.random.choice(["tts", "vc", "concat"])}).status_code

    def download_output(self) -> int:
        name = self._recent()
        return self.client.get(f"/api/v1/outputs/{name}").status_code if name else 0

    def head_output(self) -> int:
        name = self._recent()
        return self.client.head(f"/api/v1/outputs/{name}").status_code if name else 0

    def delete_output(self) -> int:
        name = self._recent()
        return self.client.delete(f"/api/v1/outputs/{name}").status_code if name else 0

    def concat(self) -> int:
        with self.lock:
            recent = self.outputs[-3:]
        if len(recent) < 2:
            return 0
        response = self.client.post("/api/v1/concat", json={"inputs": [{"output": name} for name in recent] + [{"silence_ms": 200}], "crossfade_ms": 10})
        self._remember(response)
        return response.status_code


def processes(service: RunningService) -> dict[str, psutil.Process]:
    """The API and runner workers by role."""
    found = {}
    for child in psutil.Process(service.process.pid).children(recursive=True):
        command = " ".join(child.cmdline())
        role = "tts_runner" if "chatterbox-tts-runner" in command else "vc_runner" if "chatterbox-vc-runner" in command else "api" if "--service-name chatterbox " in command + " " else None
        if role:
            found[role] = child
    return found


def error_lines(log: Path, limit: int = 100) -> list[str]:
    """The service log's ERROR lines and the exception that ended each traceback, for a run
    that got a 5xx."""
    lines = log.read_text(errors="replace").splitlines()
    return [line[:500] for line in lines if "[ERROR]" in line or (line[:1].isalpha() and ("Error" in line.split(":")[0] or "Exception" in line.split(":")[0]))][-limit:]


def warm_up(service: RunningService) -> None:
    """One request of each generating kind first, so every runner path has run (the VC
    runner's first conversion alone adds about 90 MiB) before memory is compared."""
    service.client.post("/api/v1/tts", json={"text": SENTENCES[0], "voice": "soak-0"}).raise_for_status()
    service.client.post("/api/v1/tts", json={"text": " ".join(SENTENCES[:2]), "voice": "soak-1", "response_mode": "stream", "stream_chunks": True}).raise_for_status()
    service.client.post("/api/v1/vc", files={"input_audio": ("src.wav", read_testdata("source_speech_16k.wav"))}, data={"target_voice": "soak-2"}).raise_for_status()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--backend", choices=("local", "s3"), default="local")
    parser.add_argument("--max-growth", type=float, default=0.05, help="allowed RSS growth after warm-up, as a fraction")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="extra environment for the stack (repeatable), e.g. MALLOC_ARENA_MAX=2")
    args = parser.parse_args()
    extra = dict(item.split("=", 1) for item in args.env)
    env = extra | TEST_ENV | {"CHATTERBOX_LIMITS__MAX_PENDING_GENERATIONS": "12"}
    with tempfile.TemporaryDirectory(prefix="soak-") as folder, benchmark_stack(args.backend, Path(folder), env) as service:
        for index in range(6):
            clip = VOICE_FILES[index % len(VOICE_FILES)]
            service.client.post("/api/v1/voice", files={"file": (clip, read_testdata(clip))}, data={"name": f"soak-{index}"}).raise_for_status()
        warm_up(service)
        temp_before = {path for path in service.tmpdir.rglob("*") if path.is_file()}
        roles = processes(service)
        started = time.monotonic()
        deadline = started + args.minutes * 60
        outputs: list[str] = []
        lock = threading.Lock()
        clients = [Traffic(service, deadline, seed, outputs, lock) for seed in range(args.concurrency)]
        threads = [threading.Thread(target=client.run) for client in clients]
        for thread in threads:
            thread.start()
        samples: list[tuple[float, dict[str, int]]] = []
        while time.monotonic() < deadline:
            samples.append((time.monotonic() - started, {role: process.memory_info().rss for role, process in roles.items()}))
            time.sleep(SAMPLE_SECONDS)
        for thread in threads:
            thread.join()
        samples.append((time.monotonic() - started, {role: process.memory_info().rss for role, process in roles.items()}))
        counts: Counter[tuple[str, int]] = sum((client.counts for client in clients), Counter())
        warm = [rss for at, rss in samples if at >= WARM_UP_FRACTION * args.minutes * 60]
        growth = {role: round(warm[-1][role] / warm[0][role] - 1, 4) for role in roles}
        report_check = check_storage(service.storage, min_age_seconds=0)
        temp_left = sorted(str(p) for p in {path for path in service.tmpdir.rglob("*") if path.is_file()} - temp_before)
        server_errors = sum(n for (_, status), n in counts.items() if status >= 500 or status == -1)
        report = {
            "backend": args.backend, "minutes": args.minutes, "concurrency": args.concurrency, "env": extra,
            "requests": sum(counts.values()), "server_errors": server_errors,
            "statuses": {f"{name} {status}": n for (name, status), n in sorted(counts.items())},
            "rss_mib_after_warm_up": {role: round(warm[0][role] / 2**20) for role in roles},
            "rss_mib_at_end": {role: round(warm[-1][role] / 2**20) for role in roles},
            "rss_mib_median_after_warm_up": {role: round(statistics.median(s[role] for s in warm) / 2**20) for role in roles},
            "rss_growth_after_warm_up": growth,
            "rss_mib_by_minute": {role: [round(statistics.median(rss[role] for at, rss in samples if minute * 60 <= at < (minute + 1) * 60) / 2**20) for minute in range(int(args.minutes))] for role in roles},
            "storage_findings": [f.model_dump() for f in report_check.findings], "temp_files_left": temp_left,
            "error_log": error_lines(Path(folder) / "serve.log") if server_errors else [],
        }
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
        ok = server_errors == 0 and all(g <= args.max_growth for g in growth.values()) and report_check.clean and not temp_left
        return 0 if ok else 1

if __name__ == "__main__":
    sys.exit(main())
