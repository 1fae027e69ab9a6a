"""T3 decoding for many requests in one KV-cached loop.

Upstream `T3.inference` decodes one text (plus its classifier-free-guidance twin) per call,
so concurrent requests queue for the GPU one by one. Here B requests become 2B rows (each
request's conditional and unconditional row) of one transformer pass per step:

- prompts of different lengths are left-padded, with an attention mask and position ids
  that count from each row's first real token, so a row sees exactly what it would alone;
- guidance, repetition penalty, temperature, min-p and top-p are applied per request, with
  the same Hugging Face processors upstream uses, and each request samples from its own
  seeded generator: the same seed gives the same tokens, batched or alone;
- a request that emits its stop token (or reaches its own `max_new_tokens`) leaves the
  batch: its rows are dropped from the KV cache, so finished rows cost nothing more;
- a request may be made to stop after a set number of speech tokens (`stop_after`): random
  weights never sample their stop token, so random mode uses it to speak plausible lengths;
- attention is the transformer's default (SDPA): upstream asks for attention maps it never
  reads in English mode, which forces the slower eager kernels.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import torch
from chatterbox.models.t3 import T3
from chatterbox.models.t3.modules.cond_enc import T3Cond
from torch import Tensor
from transformers.generation.logits_process import (
    ForcedEOSTokenLogitsProcessor,
    MinPLogitsWarper,
    RepetitionPenaltyLogitsProcessor,
    TopPLogitsWarper,
)

from lifecycle.drain import ShuttingDownError


@dataclass
class DecodeRequest:
    """One text to speak: its tokens (with T3's start/stop text tokens), its voice, its
    sampling parameters and its own random generator."""

    text_tokens: Tensor  # 1-D
    cond: T3Cond
    generator: torch.Generator
    max_new_tokens: int
    cfg_weight: float = 0.5
    temperature: float = 0.8
    top_p: float = 1.0
    min_p: float = 0.05
    repetition_penalty: float = 1.2
    stop_after: int | None = None  # speech tokens after which the stop token is forced; None: the model decides


class _Sampler:
    """One request's logits processing and sampling, exactly as upstream does it (plus the
    forced stop of `stop_after`, which upstream does not have)."""

    def __init__(self, request: DecodeRequest, stop_token: int, device: torch.device) -> None:
        self.request = request
        self.repetition = RepetitionPenaltyLogitsProcessor(penalty=float(request.repetition_penalty))
        self.min_p = MinPLogitsWarper(min_p=request.min_p)
        self.top_p = TopPLogitsWarper(top_p=request.top_p)
        # `generated` holds the start token too: after n speech tokens its length is n + 1
        self.stop = None if request.stop_after is None else ForcedEOSTokenLogitsProcessor(request.stop_after + 2, stop_token, str(device))

    def sample(self, cond: Tensor, uncond: Tensor, generated: Tensor) -> Tensor:
        """`cond`/`uncond`: (1, V) logits; `generated`: (1, T) ids so far. Returns (1, 1)."""
        cfg = torch.as_tensor(self.request.cfg_weight, device=cond.device, dtype=cond.dtype)
        logits = cond + cfg * (cond - uncond)
        logits = self.repetition(generated, logits)
        if self.request.temperature != 1.0:
            logits = logits / self.request.temperature
        logits = self.top_p(generated, self.min_p(generated, logits))
        if self.stop is not None:
            logits = self.stop(generated, logits)
        probs = torch.softmax(logits, dim=-1)
        return torch.multinomial(probs, num_samples=1, generator=self.request.generator)


def _prompt(t3: T3, request: DecodeRequest) -> Tensor:
    """The (2, L, D) prompt of one request: conditioning, text, start-of-speech (twice, as
    upstream feeds it: once from the prompt builder, once as the first decoding input)."""
    hp = t3.hp
    text = torch.atleast_2d(request.text_tokens).to(dtype=torch.long, device=t3.device)
    text = torch.cat([text, text])
    start = hp.start_speech_token * torch.ones_like(text[:, :1])
    embeds, _ = t3.prepare_input_embeds(t3_cond=request.cond, text_tokens=text, speech_tokens=start, cfg_weight=request.cfg_weight)
    bos = t3.speech_emb(start[:1]) + t3.speech_pos_emb.get_fixed_embedding(0)
    return torch.cat([embeds, torch.cat([bos, bos])], dim=1)


def _logits(t3: T3, embeds: Tensor, mask: Tensor, positions: Tensor, past: object) -> tuple[Tensor, object]:
    out = t3.tfmr(inputs_embeds=embeds, attention_mask=mask, position_ids=positions, past_key_values=past, use_cache=True)
    return t3.speech_head(out.last_hidden_state[:, -1, :]), out.past_key_values


@torch.inference_mode()
def decode_batch(t3: T3, requests: list[DecodeRequest], stop: threading.Event | None = None) -> list[Tensor]:
    """Speech tokens for each request (1-D, ending with the stop token when it was
    emitted), in the order given. `stop` set (a shutdown's drain ended) ends the loop at the
    next step with ShuttingDownError."""
    if not requests:
        return []
    device = t3.device
    prompts = [_prompt(t3, request) for request in requests]
    width = max(prompt.size(1) for prompt in prompts)
    embeds = torch.cat([torch.nn.functional.pad(prompt, (0, 0, width - prompt.size(1), 0)) for prompt in prompts])
    mask = torch.cat([
        torch.cat([torch.zeros(2, width - prompt.size(1), dtype=torch.long), torch.ones(2, prompt.size(1), dtype=torch.long)], dim=1)
        for prompt in prompts
    ]).to(device)
    positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
    logits, past = _logits(t3, embeds, mask, positions, None)

    samplers = [_Sampler(request, t3.hp.stop_speech_token, device) for request in requests]
    start = torch.tensor([[t3.hp.start_speech_token]], dtype=torch.long, device=device)
    generated = [start.clone() for _ in requests]
    tokens: list[list[Tensor]] = [[] for _ in requests]
    active = list(range(len(requests)))  # request index of each row pair still decoding
    step = 0
    while active:
        if stop is not None and stop.is_set():
            raise ShuttingDownError("decoding stopped: the runner is shutting down")
        next_tokens: list[Tensor] = []
        still: list[int] = []
        for pair, index in enumerate(active):
            token = samplers[index].sample(logits[2 * pair : 2 * pair + 1], logits[2 * pair + 1 : 2 * pair + 2], generated[index])
            tokens[index].append(token)
            generated[index] = torch.cat([generated[index], token], dim=1)
            if token.item() != t3.hp.stop_speech_token and len(tokens[index]) < requests[index].max_new_tokens:
                still.append(pair)
                next_tokens.append(token)
        if not still:
            break
        if len(still) < len(active):  # finished requests leave the cache
            rows = torch.tensor([row for pair in still for row in (2 * pair, 2 * pair + 1)], device=device)
            past.batch_select_indices(rows)
            mask, positions = mask[rows], positions[rows]
            active = [active[pair] for pair in still]
        step += 1
        token_embeds = t3.speech_emb(torch.cat(next_tokens)) + t3.speech_pos_emb.get_fixed_embedding(step)
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        positions = positions[:, -1:] + 1
        logits, past = _logits(t3, token_embeds.repeat_interleave(2, dim=0), mask, positions, past)
    return [torch.cat(row, dim=1).squeeze(0) for row in tokens]
