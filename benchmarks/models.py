"""The three Chatterbox models side by side: how fast each one's T3 and S3Gen make audio,
batched and not, and how much memory each takes.

Each model is built at its real size with random weights (T3: 30 Llama layers for the
original and multilingual models, 24 GPT-2 layers for Turbo; the full S3Gen, Turbo's with
meanflow), or from its checkpoint with --source local/huggingface, in a process of its own
(so peak memory is that model's alone), on --device. For concurrency C in --concurrency:

- T3 batched: C requests decoded in one `decode_batch` loop (what a runner does with C
  requests queued together), against T3 unbatched: the same C requests one by one;
- S3Gen: each request's tokens rendered (renders are not batched: see
  benchmarks/s3gen_batching.py), timed per render.

Every request speaks --tokens speech tokens (25 a second of audio; random weights are made
to stop there), in a different seed. Speed is seconds of audio made per second of compute
(above 1: faster than real time). Peak memory is the process's resident peak, and on CUDA
PyTorch's peak allocation.

Run: .venv/bin/python benchmarks/models.py [--device cuda] [--tokens 100] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.results import add_json_option, publish  # noqa: E402
from contract.families import MODEL_NAMES as MODELS  # noqa: E402

REAL_T3_LAYERS = {"original": 30, "multilingual": 30, "turbo": 24}
TOKENS_PER_SECOND = 25
TEXT = "The museum opens at nine, and the first tour leaves from the main hall."


def measure(model_name: str, args: argparse.Namespace) -> dict[str, Any]:
    """One model's figures, in this process."""
    import torch

    from audio.decoding import decode
    from benchmarks.timing import device_seconds
    from config import ModelSettings
    from contract.runner_jobs import TTSJob
    from harness.model_settings import engine_settings
    from harness.testdata import TESTDATA
    from models.conditioning import with_exaggeration
    from models.families import family_class
    from models.loader import load_tts
    from models.t3_loop import decode_batch

    device = args.device
    settings = ModelSettings(
        source=args.source, dir=None, device=device, hf_repo_id="ResembleAI/chatterbox", random_seed=0,
        random_t3_layers=REAL_T3_LAYERS[model_name], random_s3gen="full",
    )
    started = time.perf_counter()
    model = load_tts(settings, model_name).model
    load_seconds = time.perf_counter() - started
    reference = decode((TESTDATA / "voice_alex.wav").read_bytes(), 24_000).samples
    family = family_class(model_name)(model)
    conds = with_exaggeration(family.conditionals(reference), 0.5, model.device)
    tokens = family.text_tokens(TEXT, "en")
    configured = engine_settings(args.tokens + 1)

    def requests(count: int) -> list:
        made = []
        for seed in range(count):
            job = TTSJob(text=TEXT, seed=seed, language="en")
            made.append(family.decode_request(job, tokens, conds.t3, configured, stop_after=args.tokens))
        return made

    def timed(run: Any) -> float:  # one call: the loop below warms up once for all of them
        return device_seconds(run, device, warm_up=False)

    with torch.inference_mode():
        decode_batch(model.t3, requests(1))  # warm-up
        rows = []
        for concurrency in args.concurrency:
            audio_seconds = concurrency * args.tokens / TOKENS_PER_SECOND
            batched = timed(lambda: decode_batch(model.t3, requests(concurrency)))
            alone = timed(lambda: [decode_batch(model.t3, [request]) for request in requests(concurrency)])
            rows.append({"concurrency": concurrency, "t3_batched_x_realtime": round(audio_seconds / batched, 3), "t3_unbatched_x_realtime": round(audio_seconds / alone, 3),
                         "t3_batching_speedup": round(alone / batched, 2)})
        speech = decode_batch(model.t3, requests(1))[0].tolist()
        family.render(speech, conds.gen, 0)  # warm-up
        render_seconds = [timed(lambda: family.render(speech, conds.gen, 0)) for _ in range(args.renders)]
    return {
        "model": model_name, "device": device, "source": args.source, "tokens": args.tokens, "load_seconds": round(load_seconds, 1),
        "t3_parameters_m": round(sum(p.numel() for p in model.t3.parameters()) / 1e6, 1),
        "s3gen_parameters_m": round(sum(p.numel() for p in model.s3gen.parameters()) / 1e6, 1),
        "t3": rows,
        "s3gen_x_realtime": round(len(speech) / TOKENS_PER_SECOND / (sum(render_seconds) / len(render_seconds)), 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "cuda_peak_allocated_mb": round(torch.cuda.max_memory_allocated() / 2**20) if device == "cuda" else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--source", default="random", choices=["random", "local", "huggingface"])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--tokens", type=int, default=100, help="speech tokens per request (25 a second of audio)")
    parser.add_argument("--renders", type=int, default=2, help="S3Gen renders timed per model")
    add_json_option(parser)
    parser.add_argument("--worker", choices=MODELS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        sys.stdout.write(json.dumps(measure(args.worker, args)) + "\n")
        return
    results = []
    for model_name in args.models:  # one process per model: its own peak memory
        command = [sys.executable, __file__, "--worker", model_name, *sys.argv[1:]]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        results.append(json.loads(output.strip().splitlines()[-1]))
        result = results[-1]
        cuda = "" if result["cuda_peak_allocated_mb"] is None else f", CUDA peak {result['cuda_peak_allocated_mb']} MB"
        sys.stdout.write(
            f"{model_name:13} T3 {result['t3_parameters_m']} M, S3Gen {result['s3gen_parameters_m']} M parameters, peak RSS {result['peak_rss_mb']} MB{cuda}, "
            f"S3Gen {result['s3gen_x_realtime']}x real time\n"
        )
        for row in result["t3"]:
            sys.stdout.write(
                f"{'':13} concurrency {row['concurrency']}: T3 batched {row['t3_batched_x_realtime']}x, unbatched {row['t3_unbatched_x_realtime']}x real time "
                f"(batching {row['t3_batching_speedup']}x)\n"
            )
    publish(results, args.json, echo=False)


if __name__ == "__main__":
    main()
