"""T3 decoding for many requests in one KV-cached loop, for both T3 architectures.

Upstream decodes one text per call (`T3.inference` for the original and multilingual Llama
T3, with its classifier-free-guidance twin; `T3.inference_turbo` for Turbo's GPT-2 T3), so
concurrent requests queue for the GPU one by one. Here B requests become the rows of one
transformer pass per step: two rows each (conditional and unconditional) with guidance, one
each for Turbo (`TurboDecodeRequest`, which has no guidance):

- prompts of different lengths are left-padded, with an attention mask and position ids
  that count from each row's first real token, so a row sees exactly what it would alone;
- each request's logits are processed as upstream processes them for its model (guidance,
  repetition penalty, temperature, min-p, top-p; Turbo: temperature, top-k, top-p, repetition
  penalty, in that order), with the same Hugging Face processors, and each request samples
  from its own seeded generator: the same seed gives the same tokens, batched or alone;
- a request that emits its stop token (or reaches its own `max_new_tokens`) leaves the
  batch: its rows are dropped from the KV cache, so finished rows cost nothing more;
- a request may be made to stop after a set number of speech tokens (`stop_after`): random
  weights never sample their stop token, so random mode uses it to speak plausible lengths;
- attention is the transformer's default (SDPA): upstream asks for attention maps it never
  reads in English mode, which forces the slower eager kernels; the multilingual T3's
  stopping rule reads three heads' maps, and only their layers run eager
  (`models/t3_alignment.py`).
"""

from __future__ import annotations

import threading
from contextlib import nullcontext
from dataclasses import dataclass
from typing import ClassVar

import torch
from chatterbox.models.t3 import T3
from chatterbox.models.t3.modules.cond_enc import T3Cond
from torch import Tensor
from transformers.generation.logits_process import (
    LogitsProcessorList,
    MinPLogitsWarper,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from lifecycle.drain import ShuttingDownError
from models.t3_alignment import AlignedAttention, RowAlignment, additive_mask, has_aligned_heads


@dataclass
class _T3Request:
    """What a request to either T3 has: its text tokens, its voice, its own random generator
    and the sampling parameters both models share."""

    text_tokens: Tensor  # 1-D
    cond: T3Cond
    generator: torch.Generator
    max_new_tokens: int
    temperature: float = 0.8
    repetition_penalty: float = 1.2
    stop_after: int | None = None  # speech tokens after which the stop token is forced; None: the model decides


@dataclass
class DecodeRequest(_T3Request):
    """One text for the original or multilingual T3 (tokens with T3's start/stop text tokens)."""

    cfg_weight: float = 0.5
    top_p: float = 1.0
    min_p: float = 0.05
    rows: ClassVar[int] = 2  # conditional and unconditional


@dataclass
class TurboDecodeRequest(_T3Request):
    """One text for Turbo's T3: GPT-2 tokens as upstream's tokenizer gives them, no guidance."""

    top_k: int = 1000
    top_p: float = 0.95
    rows: ClassVar[int] = 1


class _Sampler:
    """One request's sampling, exactly as upstream does it for its model (plus the forced
    stop of `stop_after`, which upstream does not have). `history` is what the repetition
    penalty looks at, kept on the model's device and grown by one token a step."""

    def __init__(self, request: _T3Request, start: Tensor, stop_token: int, alignment: RowAlignment | None = None) -> None:
        self.request = request
        self.alignment = alignment  # the multilingual stopping rule, fed the row's attention maps
        self.stop_token = stop_token
        self.history = start  # (1, T)
        self.tokens: list[Tensor] = []

    def _processed(self, logits: Tensor) -> Tensor:
        """`logits`: the request's rows, (rows, V). Returns (1, V)."""
        raise NotImplementedError

    def _remember(self, token: Tensor) -> None:
        self.history = torch.cat([self.history, token], dim=1)

    def sample(self, logits: Tensor) -> Tensor:
        """The next token, (1, 1)."""
        if self.request.stop_after is not None and len(self.tokens) >= self.request.stop_after:
            token = torch.tensor([[self.stop_token]], dtype=torch.long, device=logits.device)
        else:
            probs = torch.softmax(self._processed(logits), dim=-1)
            token = torch.multinomial(probs, num_samples=1, generator=self.request.generator)
        self.tokens.append(token)
        self._remember(token)
        return token

    @property
    def done(self) -> bool:
        return self.tokens[-1].item() == self.stop_token or len(self.tokens) >= self.request.max_new_tokens


class _GuidedSampler(_Sampler):
    """`T3.inference`: guidance, the multilingual alignment rule, repetition penalty (over
    the start token and every token since), temperature, min-p, top-p."""

    request: DecodeRequest

    def __init__(self, request: DecodeRequest, start: Tensor, stop_token: int, alignment: RowAlignment | None = None) -> None:
        super().__init__(request, start, stop_token, alignment)
        self.repetition = RepetitionPenaltyLogitsProcessor(penalty=float(request.repetition_penalty))
        self.min_p = MinPLogitsWarper(min_p=request.min_p)
        self.top_p = TopPLogitsWarper(top_p=request.top_p)

    def _processed(self, logits: Tensor) -> Tensor:
        cond, uncond = logits[:1], logits[1:]
        cfg = torch.as_tensor(self.request.cfg_weight, device=cond.device, dtype=cond.dtype)
        guided = cond + cfg * (cond - uncond)
        if self.alignment is not None:
            guided = self.alignment.step(guided, next_token=self.history[0, -1].item())
        guided = self.repetition(self.history, guided)
        if self.request.temperature != 1.0:
            guided = guided / self.request.temperature
        return self.top_p(self.history, self.min_p(self.history, guided))


class _TurboSampler(_Sampler):
    """`T3.inference_turbo`: temperature, top-k, top-p, repetition penalty, in that order; the
    penalty sees the start token before the first speech token, then the speech tokens only."""

    def __init__(self, request: TurboDecodeRequest, start: Tensor, stop_token: int) -> None:
        super().__init__(request, start, stop_token)
        self.processors = LogitsProcessorList(
            ([TemperatureLogitsWarper(request.temperature)] if request.temperature > 0 and request.temperature != 1.0 else [])
            + ([TopKLogitsWarper(request.top_k)] if request.top_k > 0 else [])
            + ([TopPLogitsWarper(request.top_p)] if request.top_p < 1.0 else [])
            + ([RepetitionPenaltyLogitsProcessor(request.repetition_penalty)] if request.repetition_penalty != 1.0 else [])
        )

    def _processed(self, logits: Tensor) -> Tensor:
        return self.processors(self.history, logits)

    def _remember(self, token: Tensor) -> None:
        self.history = token if len(self.tokens) == 1 else torch.cat([self.history, token], dim=1)


def _sampler(request: DecodeRequest | TurboDecodeRequest, start: Tensor, stop_token: int, alignment: RowAlignment | None) -> _Sampler:
    if isinstance(request, TurboDecodeRequest):
        return _TurboSampler(request, start, stop_token)
    return _GuidedSampler(request, start, stop_token, alignment)


def _prompt(t3: T3, request: DecodeRequest | TurboDecodeRequest) -> tuple[Tensor, int]:
    """The (rows, L, D) prompt of one request: conditioning, text, start-of-speech, and the
    conditioning's length. The guided T3 gets start-of-speech twice, as upstream feeds it
    (once from the prompt builder, once as the first decoding input); Turbo once."""
    hp = t3.hp
    text = torch.atleast_2d(request.text_tokens).to(dtype=torch.long, device=t3.device).repeat(request.rows, 1)
    start = hp.start_speech_token * torch.ones_like(text[:, :1])
    cfg_weight = request.cfg_weight if isinstance(request, DecodeRequest) else 0.0
    embeds, conditioning = t3.prepare_input_embeds(t3_cond=request.cond, text_tokens=text, speech_tokens=start, cfg_weight=cfg_weight)
    if isinstance(request, TurboDecodeRequest):
        return embeds, conditioning
    bos = t3.speech_emb(start[:1]) + t3.speech_pos_emb.get_fixed_embedding(0)
    return torch.cat([embeds, torch.cat([bos, bos])], dim=1), conditioning


def _next_embeds(t3: T3, tokens: Tensor, step: int, rows: int) -> Tensor:
    """The embeddings of each row's last token; the Llama T3 adds its own speech positions
    (GPT-2 adds its positions inside the transformer)."""
    embeds = t3.speech_emb(tokens)
    if not t3.is_gpt:
        embeds = embeds + t3.speech_pos_emb.get_fixed_embedding(step)
    return embeds.repeat_interleave(rows, dim=0)


def _logits(t3: T3, embeds: Tensor, mask: Tensor, positions: Tensor, past: object, attention: AlignedAttention | None) -> tuple[Tensor, object]:
    if attention is not None:  # eager layers need the mask spelt out
        mask = additive_mask(mask, embeds.size(1), embeds.dtype)
    out = t3.tfmr(inputs_embeds=embeds, attention_mask=mask, position_ids=positions, past_key_values=past, use_cache=True)
    return t3.speech_head(out.last_hidden_state[:, -1, :]), out.past_key_values


@torch.inference_mode()
def decode_batch(t3: T3, requests: list[DecodeRequest] | list[TurboDecodeRequest], stop: threading.Event | None = None) -> list[Tensor]:
    """Speech tokens for each request (1-D, ending with the stop token when it was
    emitted), in the order given. All requests are for `t3`'s architecture (one kind of
    request per batch). `stop` set (a shutdown's drain ended) ends the loop at the next
    step with ShuttingDownError."""
    if not requests:
        return []
    with AlignedAttention().captured(t3) if has_aligned_heads(t3) else nullcontext() as attention:
        return _decode(t3, requests, stop, attention)


def _decode(t3: T3, requests: list[DecodeRequest] | list[TurboDecodeRequest], stop: threading.Event | None, attention: AlignedAttention | None) -> list[Tensor]:
    device = t3.device
    rows = requests[0].rows
    prompts, conditioning = zip(*(_prompt(t3, request) for request in requests), strict=True)
    width = max(prompt.size(1) for prompt in prompts)
    padding = [width - prompt.size(1) for prompt in prompts]
    embeds = torch.cat([torch.nn.functional.pad(prompt, (0, 0, pad, 0)) for prompt, pad in zip(prompts, padding, strict=True)])
    mask = torch.cat([
        torch.cat([torch.zeros(rows, pad, dtype=torch.long), torch.ones(rows, prompt.size(1), dtype=torch.long)], dim=1)
        for prompt, pad in zip(prompts, padding, strict=True)
    ]).to(device)
    positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
    logits, past = _logits(t3, embeds, mask, positions, None, attention)

    start = torch.tensor([[t3.hp.start_speech_token]], dtype=torch.long, device=device)
    stop_token = t3.hp.stop_speech_token
    samplers = [
        _sampler(request, start, stop_token, RowAlignment((length, length + request.text_tokens.numel()), stop_token) if attention else None)
        for request, length in zip(requests, conditioning, strict=True)
    ]
    active = list(range(len(requests)))  # request index of each row group still decoding
    step = 0
    while active:
        if stop is not None and stop.is_set():
            raise ShuttingDownError("decoding stopped: the runner is shutting down")
        next_tokens: list[Tensor] = []
        still: list[int] = []
        for group, index in enumerate(active):
            if attention is not None:
                samplers[index].alignment.last_aligned_attns = attention.of_row(rows * group, padding[index])
            token = samplers[index].sample(logits[rows * group : rows * (group + 1)])
            if not samplers[index].done:
                still.append(group)
                next_tokens.append(token)
        if not still:
            break
        if len(still) < len(active):  # finished requests leave the cache
            kept = torch.tensor([row for group in still for row in range(rows * group, rows * (group + 1))], device=device)
            past.batch_select_indices(kept)
            mask, positions = mask[kept], positions[kept]
            active = [active[group] for group in still]
        step += 1
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        positions = positions[:, -1:] + 1
        logits, past = _logits(t3, _next_embeds(t3, torch.cat(next_tokens), step, rows), mask, positions, past, attention)
    return [torch.cat(sampler.tokens, dim=1).squeeze(0) for sampler in samplers]
