"""Speed-factor benchmark: what time stretching adds to a TTS request.

Starts `bentoml serve` (random-weight models unless CHATTERBOX_MODEL_SOURCE says otherwise),
uploads a voice, then for the same texts and seeds requests speech at speed 1.0 and at
`--speed` with each library. Every output's metadata records the model's generation time and
the stretch time, measured in the same request, so the overhead is their ratio, side by side
in one run; the end-to-end wall time ratio against speed 1.0 is reported too.

Run: .venv/bin/python benchmarks/speed_overhead.py [--requests 4] [--speed 1.25]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.processes import free_port, start_bentoml, stop  # noqa: E402
from harness.testdata import TESTDATA  # noqa: E402

TEXTS = [
    "The museum opens at nine, and the first tour leaves from the main hall.",
    "Please remember to bring your ticket, a bottle of water, and comfortable shoes.",
    "Our guide will explain the history of each painting as we walk through the rooms.",
    "At noon we stop for lunch in the garden cafe, weather permitting.",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=4)
    parser.add_argument("--speed", type=float, default=1.25)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        port = free_port()
        env = {"STORAGE_BACKEND": "local", "STORAGE_DIR": str(work / "data"), "BENTOML_HOME": str(work / "bentoml"), "CHATTERBOX_TTS__MAX_NEW_TOKENS": "150", "CHATTERBOX_MODEL__RANDOM_S3GEN": "full"}
        service = start_bentoml(env, work / "serve.log", port)
        try:
            client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600)
            client.post("/api/v1/voice", files={"file": ("alex.wav", (TESTDATA / "voice_alex.wav").read_bytes())}, data={"name": "bench"}).raise_for_status()
            variants = [("none", 1.0)] + [(library, args.speed) for library in ("audiostretchy", "librosa", "torchaudio")]
            results: dict[str, dict[str, list[float]]] = {name: {"ratio": [], "wall": [], "audio": []} for name, _ in variants}
            for number in range(args.requests):
                for library, speed in variants:  # interleaved, so drift hits every variant alike
                    body = {"text": TEXTS[number % len(TEXTS)], "voice": "bench", "seed": number, "speed_factor": speed}
                    if library != "none":
                        body["speed_factor_library"] = library
                    started = time.perf_counter()
                    response = client.post("/api/v1/tts", json=body)
                    response.raise_for_status()
                    metadata = response.json()["metadata"]
                    results[library]["wall"].append(time.perf_counter() - started)
                    results[library]["ratio"].append(metadata["parameters"]["speed_seconds"] / metadata["generation_seconds"])
                    results[library]["audio"].append(metadata["duration_seconds"])
            baseline = statistics.median(results["none"]["wall"])
            report = {
                library: {
                    "stretch_over_generation_pct_median": round(100 * statistics.median(values["ratio"]), 2),
                    "stretch_over_generation_pct_max": round(100 * max(values["ratio"]), 2),
                    "wall_vs_speed_1_median": round(statistics.median(values["wall"]) / baseline, 3),
                    "audio_seconds_median": round(statistics.median(values["audio"]), 2),
                }
                for library, values in results.items()
            }
            print(json.dumps({"requests_per_variant": args.requests, "speed": args.speed, "results": report}, indent=2))
        finally:
            stop(service)


if __name__ == "__main__":
    main()
