"""Does batching S3Gen pay? B renders in one batched pass against B renders one by one.

Builds the real Chatterbox classes with random weights (or a checkpoint: CHATTERBOX_MODEL_DIR
with --source local) on the chosen device, and for each token length and batch size times:

- S3Gen's flow (token to mel, 10 flow-matching steps) and HiFi-GAN vocoder, batched with
  upstream's own batching (`flow.inference` with B rows sharing one voice prompt, the case
  where lengths allow it: no padding at all) against B calls of one row;
- the S3 tokenizer (VC's first stage) on B sources of different lengths, one padded pass
  against B passes.

The ratio `one_by_one / batched` is the speed-up batching would bring; near 1 it does not
pay and the engines keep the per-item loop. Medians of --repeats runs after a warm-up.

Run: .venv/bin/python benchmarks/s3gen_batching.py [--device cuda] [--batch-sizes 1 4 8]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from audio.decoding import decode  # noqa: E402
from benchmarks.timing import device_seconds  # noqa: E402
from config import ModelSettings  # noqa: E402
from harness.testdata import TESTDATA  # noqa: E402
from models.conditioning import s3gen_reference  # noqa: E402
from models.loader import load_vc  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--source", default="random", choices=["random", "local"])
    parser.add_argument("--tokens", type=int, nargs="+", default=[50, 150], help="speech tokens per row (25 a second)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[4])
    parser.add_argument("--voice-seconds", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    torch.manual_seed(0)
    settings = ModelSettings(source=args.source, dir=None, device=args.device, hf_repo_id="ResembleAI/chatterbox", random_seed=0, random_t3_layers=2, random_s3gen="full")
    model = load_vc(settings).model
    s3gen = model.s3gen
    reference = decode((TESTDATA / "voice_alex.wav").read_bytes(), 24_000).samples[: int(args.voice_seconds * 24_000)]
    prompt = s3gen_reference(s3gen, reference, args.device)
    source = torch.from_numpy(decode((TESTDATA / "voice_bella.wav").read_bytes(), 16_000).samples)

    def render(tokens: torch.Tensor) -> None:
        rows = tokens.size(0)
        mels, _ = s3gen.flow.inference(
            tokens, torch.full((rows,), tokens.size(1), device=args.device), prompt["prompt_token"], prompt["prompt_token_len"],
            prompt["prompt_feat"], None, prompt["embedding"], True,
        )
        s3gen.mel2wav.inference(speech_feat=mels, cache_source=torch.zeros(1, 1, 0, device=args.device))

    results = []
    with torch.inference_mode():
        for length in args.tokens:
            for batch in args.batch_sizes:
                tokens = torch.randint(0, 6561, (batch, length), device=args.device)
                together = device_seconds(lambda: render(tokens), args.device, args.repeats)
                alone = device_seconds(lambda: [render(tokens[row : row + 1]) for row in range(batch)], args.device, args.repeats)
                results.append({"stage": "s3gen_render", "tokens": length, "batch": batch, "batched_s": round(together, 3), "one_by_one_s": round(alone, 3), "speedup": round(alone / together, 2)})
                print(json.dumps(results[-1]), file=sys.stderr, flush=True)
        for batch in args.batch_sizes:
            sources = [source[: 16_000 * (2 + row % 4)] for row in range(batch)]  # 2 to 5 s, padded in the batch
            together = device_seconds(lambda: s3gen.tokenizer(sources), args.device, args.repeats)
            alone = device_seconds(lambda: [s3gen.tokenizer([one]) for one in sources], args.device, args.repeats)
            results.append({"stage": "s3_tokenizer", "batch": batch, "batched_s": round(together, 3), "one_by_one_s": round(alone, 3), "speedup": round(alone / together, 2)})
    device_name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    print(json.dumps({"device": device_name, "threads": torch.get_num_threads(), "voice_seconds": args.voice_seconds, "results": results}, indent=2))


if __name__ == "__main__":
    main()
