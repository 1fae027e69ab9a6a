"""What a request to T3 is when many are decoded in one KV-cached loop (the loop itself:
`models/t3_loop.py`), for both T3 architectures: its prompt, its sampler, its next input.

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
  loop: its rows are dropped from the KV cache, so finished rows cost nothing more;
- a request may be made to stop after a set number of speech tokens (`stop_after`): random
  weights never sample their stop token, so random mode uses it to speak plausible lengths;
- attention is the transformer's default (SDPA): upstream asks for attention maps it never
  reads in English mode, which forces the slower eager kernels; the multilingual T3's
  stopping rule reads three heads' maps, and only their layers run eager
  (`models/t3_alignment.py`).
"""

from __future__ import annotations

import copy
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

from models.t3_alignment import AlignedAttention, RowAlignment, additive_mask


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


class Sampler:
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


class _GuidedSampler(Sampler):
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


class _TurboSampler(Sampler):
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


def sampler_of(request: DecodeRequest | TurboDecodeRequest, start: Tensor, stop_token: int, alignment: RowAlignment | None) -> Sampler:
    if isinstance(request, TurboDecodeRequest):
        return _TurboSampler(request, start, stop_token)
    return _GuidedSampler(request, start, stop_token, alignment)


def prompt_of(t3: T3, request: DecodeRequest | TurboDecodeRequest) -> tuple[Tensor, int]:
    """The (rows, L, D) prompt of one request: conditioning, text, start-of-speech, and the
    conditioning's length. The guided T3 gets start-of-speech twice, as upstream feeds it
    (once from the prompt builder, once as the first decoding input); Turbo once."""
    hp = t3.hp
    text = torch.atleast_2d(request.text_tokens).to(dtype=torch.long, device=t3.device).repeat(request.rows, 1)
    start = hp.start_speech_token * torch.ones_like(text[:, :1])
    cfg_weight = request.cfg_weight if isinstance(request, DecodeRequest) else 0.0
    cond = copy.copy(request.cond).to(dtype=t3_dtype(t3))  # the voice's float tensors in T3's dtype (`model.dtype`)
    embeds, conditioning = t3.prepare_input_embeds(t3_cond=cond, text_tokens=text, speech_tokens=start, cfg_weight=cfg_weight)
    if isinstance(request, TurboDecodeRequest):
        return embeds, conditioning
    bos = t3.speech_emb(start[:1]) + t3.speech_pos_emb.get_fixed_embedding(0)
    return torch.cat([embeds, torch.cat([bos, bos])], dim=1), conditioning


def t3_dtype(t3: T3) -> torch.dtype:
    return t3.speech_head.weight.dtype


def next_embeds(t3: T3, tokens: Tensor, steps: Tensor, rows: Tensor) -> Tensor:
    """The embeddings of each request's last token (`tokens`, (requests, 1)), repeated for its
    rows; the Llama T3 adds its own speech positions, each request's own step (`steps`,
    (requests, 1)), GPT-2 adds its positions inside the transformer."""
    embeds = t3.speech_emb(tokens)
    if not t3.is_gpt:
        embeds = embeds + t3.speech_pos_emb.get_fixed_embedding(steps)
    return embeds.repeat_interleave(rows, dim=0)


def logits_of(t3: T3, embeds: Tensor, mask: Tensor, positions: Tensor, past: object, attention: AlignedAttention | None) -> tuple[Tensor, object]:
    if attention is not None:  # eager layers need the mask spelt out
        mask = additive_mask(mask, embeds.size(1), embeds.dtype)
    out = t3.tfmr(inputs_embeds=embeds, attention_mask=mask, position_ids=positions, past_key_values=past, use_cache=True)
    return speech_logits(t3, out.last_hidden_state), out.past_key_values


def speech_logits(t3: T3, hidden: Tensor) -> Tensor:
    """The (rows, V) logits of each row's last position, in float32 whatever T3's dtype: the
    sampler's thresholds cut where they cut in float32."""
    return t3.speech_head(hidden[:, -1, :]).float()
