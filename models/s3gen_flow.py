"""S3Gen's flow for several renders in one pass, each with its own voice and its own noise,
and its vocoder in float32.

Upstream's `CausalMaskedDiffWithXvec.inference` takes a batch, but with one voice prompt
repeated for every row, and `S3Token2Mel.forward` casts every tensor of the prompt to the
flow's dtype, token ids too (under bfloat16, ids above 256 would be rounded). Here each row
carries its own prompt (`gen`, `models/conditioning.py`) and its own noise, and the flow runs
the way upstream's does, step for step:

- each row is its prompt's tokens then its own, padded on the right to the longest row; the
  encoder masks attention by length and its convolutions are causal, except the look-ahead
  layer, which would read a short row's padding as its last tokens' future: a pre-hook
  zeroes the padding first, so a row sees the zeros it sees alone;
- the conditions hold each row's prompt mels, the noise each row's own draw (`row_noise`,
  from a generator seeded with the job's seed, so a row's audio does not depend on its
  batch-mates or on the device), and the solver is upstream's (`solve_euler` with guidance,
  Turbo's meanflow `basic_euler`);
- each row's mels are cut from its prompt's end to its own length.

The flow runs in the model's dtype (`model.dtype`, `models/precision.py`). HiFT does not: its
excitation source integrates phase over a whole utterance and its output passes through an
inverse STFT, where half precision loses the phase; it costs a small part of a render.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from chatterbox.models.s3gen.s3gen import S3Token2Wav
from chatterbox.models.s3gen.utils.mask import make_pad_mask
from torch import Tensor

MEL_BINS = 80
TOKEN_FRAMES = 2  # mel frames a speech token (the flow's `token_mel_ratio`)


@dataclass
class FlowRow:
    """One render's input to the flow."""

    tokens: Tensor  # 1-D speech tokens (audio tokens only), on the model's device
    gen: dict  # the voice's S3Gen prompt: prompt_token, prompt_feat, embedding
    noise: Tensor  # (80, `frames`): the flow's starting noise, float32, on any device

    @property
    def frames(self) -> int:
        """Mel frames the flow runs over for this row: two a token, the prompt's included."""
        return TOKEN_FRAMES * (prompt_tokens(self.gen) + self.tokens.numel())

    @property
    def prompt_frames(self) -> int:
        """Frames of the prompt's mels, where the row's own output starts (as upstream cuts it:
        the reference's mels may be one frame longer than its tokens')."""
        return int(self.gen["prompt_feat"].shape[1])


def prompt_tokens(gen: dict) -> int:
    return int(gen["prompt_token"].shape[-1])


def row_noise(gen: dict, tokens: int, generator: torch.Generator) -> Tensor:
    """The flow's starting noise for `tokens` speech tokens in voice `gen`, frame by frame
    from the prompt's first, drawn from `generator` (on the CPU)."""
    return torch.randn(MEL_BINS, TOKEN_FRAMES * (prompt_tokens(gen) + tokens), generator=generator)


def seeded_row(tokens: Tensor, gen: dict, seed: int) -> FlowRow | None:
    """A whole render's row, its noise drawn from `seed` (None: no tokens, nothing to say)."""
    if tokens.numel() == 0:
        return None
    return FlowRow(tokens, gen, row_noise(gen, tokens.numel(), torch.Generator().manual_seed(seed)))


@contextmanager
def _padding_zeroed(layer: torch.nn.Module, keep: Tensor) -> Iterator[None]:
    """While open, `layer`'s input is multiplied by `keep` ((B, T, 1): 1 real, 0 padding)."""
    handle = layer.register_forward_pre_hook(lambda _module, args: (args[0] * keep.to(args[0].dtype), *args[1:]))
    try:
        yield
    finally:
        handle.remove()


def flow_mels(s3gen: S3Token2Wav, rows: list[FlowRow], n_timesteps: int | None = None) -> list[Tensor]:
    """Each row's generated mel frames, (80, frames from its prompt's end), in the flow's dtype."""
    flow = s3gen.flow
    device, dtype = s3gen.device, s3gen.dtype
    n_timesteps = n_timesteps or (2 if s3gen.meanflow else 10)  # as upstream's `flow_inference`
    prompts = [row.gen["prompt_token"].reshape(-1).to(device=device, dtype=torch.long) for row in rows]
    sequences = [torch.cat([prompt, row.tokens.to(device=device, dtype=torch.long)]) for prompt, row in zip(prompts, rows, strict=True)]
    lengths = torch.tensor([sequence.numel() for sequence in sequences], device=device)
    tokens = torch.nn.utils.rnn.pad_sequence(sequences, batch_first=True)
    keep = (~make_pad_mask(lengths)).unsqueeze(-1).to(dtype)  # (B, T, 1)

    embedding = torch.cat([torch.atleast_2d(row.gen["embedding"]).to(device=device, dtype=dtype) for row in rows])
    embedding = flow.spk_embed_affine_layer(F.normalize(embedding, dim=1))
    with _padding_zeroed(flow.encoder.pre_lookahead_layer, keep):
        hidden, _ = flow.encoder(flow.input_embedding(torch.clamp(tokens, min=0)) * keep, lengths)
    hidden = flow.encoder_proj(hidden)  # (B, T', 80): two frames a token

    frames = hidden.shape[1]
    conds = torch.zeros(len(rows), frames, MEL_BINS, device=device, dtype=dtype)
    noise = torch.zeros(len(rows), MEL_BINS, frames, device=device, dtype=dtype)
    for index, row in enumerate(rows):
        conds[index, : row.prompt_frames] = row.gen["prompt_feat"].reshape(-1, MEL_BINS).to(device=device, dtype=dtype)
        noise[index, :, : row.frames] = row.noise.to(device=device, dtype=dtype)
    mask = (~make_pad_mask(torch.tensor([row.frames for row in rows], device=device), frames)).unsqueeze(1).to(dtype)

    decoder = flow.decoder
    t_span = torch.linspace(0, 1, n_timesteps + 1, device=device, dtype=dtype)
    mu = hidden.transpose(1, 2).contiguous()
    if s3gen.meanflow:
        mels = decoder.basic_euler(noise, t_span=t_span, mu=mu, mask=mask, spks=embedding, cond=conds.transpose(1, 2))
    else:
        if decoder.t_scheduler == "cosine":
            t_span = 1 - torch.cos(t_span * 0.5 * torch.pi)
        mels = decoder.solve_euler(noise, t_span=t_span, mu=mu, mask=mask, spks=embedding, cond=conds.transpose(1, 2))
    return [mels[index, :, row.prompt_frames : row.frames] for index, row in enumerate(rows)]


def vocoded(s3gen: S3Token2Wav, mels: Tensor, cache_source: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """HiFT's waveform (1, samples) and excitation source of `mels` ((80, frames) or
    (1, 80, frames)), in float32 whatever the flow's dtype; its source noise comes from the
    global generator, which the caller seeds."""
    hift = s3gen.mel2wav
    speech_feat = mels.reshape(1, MEL_BINS, -1).to(torch.float32)
    source = torch.zeros(1, 1, 0, device=speech_feat.device) if cache_source is None else cache_source
    return hift.inference(speech_feat=speech_feat, cache_source=source)


def waveform(s3gen: S3Token2Wav, mels: Tensor) -> np.ndarray:
    """A whole render's audio from its mels: HiFT, then the fade-in upstream gives every
    render (against spill-over from the reference)."""
    speech, _ = vocoded(s3gen, mels)
    speech[:, : len(s3gen.trim_fade)] *= s3gen.trim_fade.to(speech)
    return speech.squeeze(0).cpu().numpy().astype(np.float32)


def render_rows(s3gen: S3Token2Wav, rows: list[FlowRow], seeds: list[int]) -> list[np.ndarray]:
    """Whole renders of `rows` with the flow in one pass; each row's HiFT source noise is
    drawn after seeding the global generator with its seed (the caller holds S3Gen)."""
    audio = []
    for mels, seed in zip(flow_mels(s3gen, rows), seeds, strict=True):
        torch.manual_seed(seed)
        audio.append(waveform(s3gen, mels))
    return audio
