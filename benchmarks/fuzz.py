"""Schema-driven fuzzing of every operation, the generating ones and the bulk delete
included, against a stack of its own (the suite's `tests/test_fuzz.py` leaves those out to
stay quick and to keep the shared stacks' voices).

Starts `bentoml serve` (random weights, local storage or moto S3), uploads two voices so
name-taking operations sometimes hit real ones, sends `--cases` schemathesis cases to each
operation of the service's own OpenAPI document, and checks every answer: no 5xx, a
status, content type and body the document declares. Prints the operations covered and the
cases sent; exits 1 on the first failing answer (schemathesis prints how to reproduce it).

Run: .venv/bin/python benchmarks/fuzz.py [--cases 25] [--backend local|s3]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.fuzzing import fuzz  # noqa: E402
from harness.stacks import TEST_ENV, benchmark_stack  # noqa: E402
from harness.testdata import read_testdata  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=25, help="schemathesis cases per operation")
    parser.add_argument("--backend", choices=("local", "s3"), default="local")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="fuzz-") as folder, benchmark_stack(args.backend, Path(folder), TEST_ENV) as service:
        for name, clip in (("fuzz-alex", "voice_alex.wav"), ("fuzz-bella", "voice_bella.wav")):
            service.client.post("/api/v1/voice", files={"file": (clip, read_testdata(clip))}, data={"name": name}).raise_for_status()
        started = time.monotonic()
        try:
            sent = fuzz(service, set(), args.cases)
        except BaseException as failure:  # schemathesis' report says what failed and how to reproduce it
            sys.stderr.write(f"{failure}\n")
            return 1
        report = {
            "backend": args.backend, "operations": len(sent), "cases": sum(sent.values()),
            "seconds": round(time.monotonic() - started, 1), "failures": 0, "cases_per_operation": sent,
        }
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
        return 0

if __name__ == "__main__":
    sys.exit(main())
