"""This tree measured beside an older commit of it (`--baseline REF`): the commit checked out
in a temporary git worktree and measured first, then this tree, on the same machine in one
run, so a change is reported as a ratio rather than against figures from another day."""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")


def add_baseline_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--baseline", metavar="REF", help="a git commit to measure first, in a temporary worktree (served with this tree's .venv)")


@contextmanager
def worktree(ref: str) -> Iterator[Path]:
    """`ref` checked out in a temporary worktree, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="baseline-") as folder:
        tree = Path(folder) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), ref], cwd=ROOT, check=True, capture_output=True)
        try:
            yield tree
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=True, capture_output=True)


def beside_baseline(baseline: str | None, measure: Callable[[Path], T]) -> dict[str, T]:
    """`measure(root)` of the baseline (when given) and then of this tree, by label."""
    report: dict[str, T] = {}
    if baseline:
        with worktree(baseline) as tree:
            report[f"baseline {baseline}"] = measure(tree)
    report["this tree"] = measure(ROOT)
    return report
