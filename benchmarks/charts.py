"""The headline figures as pictures: each recorded benchmark run (JSON, `--json` of the
benchmark scripts) drawn as a PNG for docs/performance.md.

    .venv/bin/python benchmarks/charts.py                      # docs/benchmarks/*.json -> docs/img/*.png
    .venv/bin/python benchmarks/charts.py --results my-runs --out my-charts

Which chart a file gets follows its name: models-*.json (benchmarks/models.py),
batching-*.json (benchmarks/batching_load.py), streaming-*.json (benchmarks/streaming_ttfb.py).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
STAMPLESS = {"Software": None}  # the same figures make the same file


def models_chart(results: list[dict[str, Any]]) -> Figure:
    figure, (t3, s3gen) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [3, 2]})
    for model in results:
        levels = [row["concurrency"] for row in model["t3"]]
        line = t3.plot(levels, [row["t3_batched_x_realtime"] for row in model["t3"]], marker="o", label=f"{model['model']} batched")[0]
        t3.plot(levels, [row["t3_unbatched_x_realtime"] for row in model["t3"]], marker="o", linestyle="--", color=line.get_color(), alpha=0.6, label=f"{model['model']} one by one")
    t3.set(title="T3: seconds of audio per second", xlabel="requests decoded together", ylabel="x real time")
    t3.legend(fontsize=8)
    names = [model["model"] for model in results]
    s3gen.bar(names, [model["s3gen_x_realtime"] for model in results], color="tab:gray")
    for index, model in enumerate(results):
        s3gen.annotate(f"{model['peak_rss_mb'] / 1000:.1f} GB peak", (index, model["s3gen_x_realtime"]), ha="center", va="bottom", fontsize=8)
    s3gen.set(title="S3Gen: x real time (and process peak memory)", ylabel="x real time")
    device = results[0]["device"]
    figure.suptitle(f"The three models at full size, random weights, {results[0]['tokens']} tokens per request ({device})")
    return figure


def batching_chart(report: dict[str, Any]) -> Figure:
    levels = sorted(report["levels"], key=int)
    concurrency = [int(level) for level in levels]
    figure, (throughput, latency) = plt.subplots(1, 2, figsize=(11, 4.2))
    styles = {"batched": "-", "unbatched": "--", "baseline": ":"}
    for mode, style in styles.items():
        if mode not in report["levels"][levels[0]]:
            continue
        rows = [report["levels"][level][mode] for level in levels]
        throughput.plot(concurrency, [row["throughput_audio_s_per_s"] for row in rows], marker="o", linestyle=style, label=mode)
        latency.plot(concurrency, [row["latency_p50_s"] for row in rows], marker="o", linestyle=style, label=f"p50 {mode}")
        latency.plot(concurrency, [row["latency_p95_s"] for row in rows], marker="^", linestyle=style, alpha=0.6, label=f"p95 {mode}")
    level = "requests in flight offered (Poisson arrivals)" if report.get("arrivals") == "poisson" else "concurrent clients"
    throughput.set(title="Throughput", xlabel=level, ylabel="seconds of audio per second", xticks=concurrency)
    latency.set(title="Latency per request", xlabel=level, ylabel="seconds", xticks=concurrency)
    throughput.legend(fontsize=8)
    latency.legend(fontsize=8)
    baseline = f", baseline {report['baseline']}" if report.get("baseline") else ""
    figure.suptitle(f"Batching on and off{baseline}: T3 {report['t3_layers']} layers, {report['max_new_tokens']} tokens per request ({report['device']}, {report['cpu_count']} CPUs)")
    return figure


def streaming_chart(report: dict[str, Any]) -> Figure:
    """First and last byte per mode; with a baseline in the run, its bars above this tree's."""
    labels = {
        "whole": "/api/v1/tts\nwhole", "api_stream_chunks": "/api/v1/tts\nstream_chunks", "openai_stream": "/v1/audio/speech",
        "one_sentence_stream": "one sentence\n/v1/audio/speech",
    }
    runs = ([(f" ({report['baseline']['ref']})", report["baseline"]["results"])] if report.get("baseline") else []) + [(" (this tree)" if report.get("baseline") else "", report["results"])]
    rows = [(labels.get(mode, mode) + suffix, results[mode]) for mode in report["results"] for suffix, results in runs]
    figure, axes = plt.subplots(figsize=(8, 1.2 + 0.9 * len(rows)))
    positions = range(len(rows))
    axes.barh([p + 0.2 for p in positions], [row["total_seconds_median"] for _, row in rows], height=0.4, color="tab:gray", alpha=0.5, label="last byte")
    axes.barh([p - 0.2 for p in positions], [row["first_byte_seconds_median"] for _, row in rows], height=0.4, color="tab:blue", label="first byte")
    axes.set_yticks(list(positions), [label for label, _ in rows])
    axes.invert_yaxis()
    axes.set(xlabel="seconds (median)", title=f"Time to first audio ({report['device']}, {report['requests_per_mode']} requests per mode)")
    axes.legend()
    return figure


CHARTS: dict[str, Callable[[Any], Figure]] = {"models": models_chart, "batching": batching_chart, "streaming": streaming_chart}


def render(results: Path, out: Path) -> list[Path]:
    """A PNG in `out` for every recorded run in `results` whose name says which chart it gets."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for source in sorted(results.glob("*.json")):
        chart = CHARTS.get(source.stem.split("-")[0])
        if chart is None:
            continue
        figure = chart(json.loads(source.read_text()))
        figure.tight_layout()
        target = out / f"{source.stem}.png"
        figure.savefig(target, dpi=100, metadata=STAMPLESS)
        plt.close(figure)
        written.append(target)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=ROOT / "docs" / "benchmarks")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    args = parser.parse_args()
    for path in render(args.results, args.out):
        print(path)


if __name__ == "__main__":
    main()
