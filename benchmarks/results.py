"""A benchmark's results: printed as JSON, and with --json also written to a file, which
`benchmarks/charts.py` draws (the recorded runs are in docs/benchmarks/)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", type=Path, help="also write the results here (docs/benchmarks/ holds the recorded runs)")


def publish(results: object, path: Path | None, echo: bool = True) -> None:
    """`echo`: print the JSON too (scripts that print a readable summary of their own do not)."""
    text = json.dumps(results, indent=2)
    if echo:
        print(text)
    if path is not None:
        path.write_text(text + "\n")
