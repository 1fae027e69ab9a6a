"""The dtype each network runs in (`model.dtype`).

T3 and S3Gen's flow run in `model.dtype`: `auto` is bfloat16 on CUDA (bfloat16 keeps
float32's range, so T3's logits and the flow's ODE never overflow as float16 can; the
matmuls run on the tensor cores at twice float32's rate or more) and float32 elsewhere (CPUs
without bfloat16 units emulate it, slower than float32). What stays float32, and why:

- T3's sampling: logits are cast to float32 before guidance, penalties and the softmax
  (`models/t3_batch.py`), so the sampler's thresholds (min-p, top-p) cut where they do in
  float32;
- HiFT, the vocoder (`models/s3gen_flow.py`): its excitation source integrates phase over
  the whole utterance and its output goes through an inverse STFT, where half precision
  loses phase; it is a small part of a render;
- the voice encoder, S3Gen's speech tokenizer and speaker encoder: they run once per voice
  (conditioning is cached), so precision there buys nothing and would shift every voice;
- the Perth watermarker: its detector expects the signal its float32 embedder makes.
"""

from __future__ import annotations

import logging

import torch

from config.settings import ModelDtype

logger = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def model_dtype(requested: ModelDtype, device: str) -> torch.dtype:
    if requested != "auto":
        return DTYPES[requested]
    return torch.bfloat16 if device == "cuda" else torch.float32


def apply_precision(model: object, dtype: torch.dtype) -> str:
    """T3 (when the model has one) and S3Gen's flow to `dtype`, in place; returns its name."""
    t3 = getattr(model, "t3", None)
    if t3 is not None:
        t3.to(dtype)
    model.s3gen.flow.to(dtype)  # type: ignore[attr-defined]
    name = str(dtype).removeprefix("torch.")
    logger.info("model precision", extra={"dtype": name, "networks": "t3, s3gen flow" if t3 is not None else "s3gen flow"})
    return name
