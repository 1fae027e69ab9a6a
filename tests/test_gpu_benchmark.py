"""`benchmarks/gpu.py` runs, so it cannot rot before a GPU runs it: its smoke mode on the CPU,
Turbo measured in this process (small random weights, a few tokens; T3 in the dynamic and the
static KV cache, whose tokens must agree) and the served part
against the shared local stack (which serves Turbo as `tts-1`). The figures are checked for
being measured (positive, from every stage), not for their size."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import gpu
from harness.stacks import API_KEYS, RunningService


def test_the_gpu_benchmark_runs_on_the_cpu(local_stack: RunningService, tmp_path: Path) -> None:
    out = tmp_path / "gpu.json"
    gpu.main(["--device", "cpu", "--smoke", "--models", "turbo", "--url", local_stack.base_url, "--api-key", API_KEYS[0], "--json", str(out)])
    report = json.loads(out.read_text())
    [turbo] = report["models"]
    assert turbo["model"] == "turbo" and turbo["dtype"] == "float32"
    assert [(row["kv"], row["rows"]) for row in turbo["t3"]] == [("dynamic", 1), ("dynamic", 2), ("static", 1), ("static", 2)]
    assert all(row["step_ms"] > 0 and row["x_realtime"] > 0 and row["same_tokens"] for row in turbo["t3"])
    assert turbo["s3gen"]["batched_x_realtime"] > 0 and turbo["s3gen"]["one_by_one_x_realtime"] > 0
    [load] = report["served"]
    assert load["clients"] == 1 and load["errors"] == 0 and load["requests"] >= 2 and load["x_realtime"] > 0
    assert 0 < load["first_audio_p50_s"] <= load["latency_p95_s"] and load["mean_t3_rows_per_step"] >= 1
    assert {"t3", "s3gen", "watermark"} <= set(load["stage_seconds"])
    assert local_stack.client.get("/api/v1/voices/gpu-benchmark").status_code == 404  # its voice is gone
