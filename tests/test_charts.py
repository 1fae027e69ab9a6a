"""The performance charts: every picture docs/performance.md shows is drawn by
`benchmarks/charts.py` from a recorded run in docs/benchmarks/, and drawing them again from
those files works and gives pictures of the same size (so the JSON and the PNG cannot part)."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib.image

from benchmarks.charts import render
from harness.processes import ROOT

DOCS = ROOT / "docs"


def test_every_chart_in_the_docs_is_drawn_from_a_recorded_run(tmp_path: Path) -> None:
    shown = set(re.findall(r"\(img/([\w.-]+\.png)\)", (DOCS / "performance.md").read_text()))
    drawn = {path.name: path for path in render(DOCS / "benchmarks", tmp_path)}
    assert shown and shown <= set(drawn), f"no recorded run draws {sorted(shown - set(drawn))}"
    for name in shown:
        assert matplotlib.image.imread(drawn[name]).shape == matplotlib.image.imread(DOCS / "img" / name).shape, f"docs/img/{name} is stale: run benchmarks/charts.py"
