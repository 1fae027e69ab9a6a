"""One KV-cached T3 loop whose requests come and go at step boundaries.

`decode_batch` (every request admitted at the start, run until the last one stops) is the
simplest use; a scheduler can also admit new requests between any two steps, and a request
that joins mid-way decodes exactly the tokens it decodes alone with the same seed:

- `admit` runs the new requests' prompts in a pass of their own (left-padded among
  themselves) and then joins their KV cache to the loop's: whichever side is shorter is
  padded on the left, masked out, so every row still sees exactly its own tokens (where the
  keys and values live, a cache grown a column a step or one allocated once and reused:
  `models/kv_rows.py`);
- each request counts its own steps, so the Llama T3's speech positions are per row (the
  embedding of a request's k-th token is at position k whatever the loop's age), and its
  position ids continue from its own prompt;
- the multilingual stopping rule reads each request's own rows of the aligned heads' maps,
  taken right after the pass that made its logits (with its own padding cut off);
- when requests leave, their rows leave the cache.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from chatterbox.models.t3 import T3
from torch import Tensor

from lifecycle.drain import ShuttingDownError
from models.kv_rows import DynamicKV, KVRows
from models.t3_alignment import AlignedAttention, RowAlignment, has_aligned_heads
from models.t3_batch import DecodeRequest, Sampler, TurboDecodeRequest, logits_of, next_embeds, prompt_of, sampler_of

T3Request = DecodeRequest | TurboDecodeRequest


@dataclass
class LoopRequest:
    """A request's place in the loop: its sampler (which holds its tokens so far), and the
    logits (and for the stopping rule the attention maps) of its next token, from the last
    pass that covered it."""

    request: T3Request
    sampler: Sampler
    logits: Tensor
    maps: list[Tensor] | None

    @property
    def tokens(self) -> Tensor:
        """Its speech tokens (1-D, ending with the stop token when it was emitted)."""
        return torch.cat(self.sampler.tokens, dim=1).squeeze(0)


class DecodeLoop:
    """The loop's rows (two per guided request, one per Turbo request), in cache order."""

    def __init__(self, t3: T3, attention: AlignedAttention | None, kv: KVRows, stop: threading.Event | None = None) -> None:
        self.t3 = t3
        self.attention = attention  # the aligned heads' maps of the multilingual T3, else None
        self.kv = kv  # the rows' keys and values, empty at the start
        self.stop = stop  # set when a shutdown's drain ended: the next step raises ShuttingDownError
        self.requests: list[LoopRequest] = []
        self.positions: Tensor | None = None  # (rows, 1): each row's last position id

    @property
    def rows(self) -> int:
        return sum(entry.request.rows for entry in self.requests)

    def _maps(self, row: int, padding: int, end: int | None = None) -> list[Tensor] | None:
        return self.attention.of_row(row, padding, end) if self.attention is not None else None

    def admit(self, requests: list[T3Request]) -> list[LoopRequest]:
        """Prefills `requests` and joins them to the loop; their first token is sampled at
        the next `step`. Requests of one loop are for `t3`'s architecture."""
        if not requests:
            return []
        t3, device = self.t3, self.t3.device
        prompts, conditioning = zip(*(prompt_of(t3, request) for request in requests), strict=True)
        width = max(prompt.size(1) for prompt in prompts)
        padding = [width - prompt.size(1) for prompt in prompts]
        embeds = torch.cat([F.pad(prompt, (0, 0, pad, 0)) for prompt, pad in zip(prompts, padding, strict=True)])
        mask = torch.cat([
            torch.cat([torch.zeros(request.rows, pad, dtype=torch.long), torch.ones(request.rows, prompt.size(1), dtype=torch.long)], dim=1)
            for request, prompt, pad in zip(requests, prompts, padding, strict=True)
        ]).to(device)
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
        logits, past = logits_of(t3, embeds, mask, positions, None, self.attention)
        start = torch.tensor([[t3.hp.start_speech_token]], dtype=torch.long, device=device)
        stop_token = t3.hp.stop_speech_token
        admitted, row = [], 0
        for request, length, pad in zip(requests, conditioning, padding, strict=True):
            alignment = RowAlignment((length, length + request.text_tokens.numel()), stop_token) if self.attention is not None else None
            sampler = sampler_of(request, start, stop_token, alignment)
            admitted.append(LoopRequest(request, sampler, logits[row : row + request.rows], self._maps(row, pad)))
            row += request.rows
        self.kv.join(past, mask, [pad for request, pad in zip(requests, padding, strict=True) for _ in range(request.rows)])
        self.positions = positions[:, -1:] if self.positions is None else torch.cat([self.positions, positions[:, -1:]])
        self.requests += admitted
        return admitted

    def step(self) -> list[LoopRequest]:
        """Every request's next token; the requests that stopped leave the loop (returned,
        in loop order), the others get the logits of their following token in one pass."""
        if self.stop is not None and self.stop.is_set():
            raise ShuttingDownError("decoding stopped: the runner is shutting down")
        tokens, kept, finished = [], [], []
        for entry in self.requests:
            if entry.sampler.alignment is not None:
                entry.sampler.alignment.last_aligned_attns = entry.maps
            token = entry.sampler.sample(entry.logits)
            if entry.sampler.done:
                finished.append(entry)
            else:
                kept.append(entry)
                tokens.append(token)
        if finished:
            self._keep(kept)
        if not self.requests:
            return finished
        assert self.positions is not None
        self.positions = self.positions + 1
        steps = torch.tensor([[len(entry.sampler.tokens)] for entry in self.requests], device=self.t3.device)
        rows = torch.tensor([entry.request.rows for entry in self.requests], device=self.t3.device)
        logits = self.kv.forward(self.t3, next_embeds(self.t3, torch.cat(tokens), steps, rows), self.positions, self.attention)
        row = 0
        for entry in self.requests:
            entry.logits, entry.maps = logits[row : row + entry.request.rows], self._maps(row, self.kv.starts[row], self.kv.end)
            row += entry.request.rows
        return finished

    def leave(self, gone: list[LoopRequest]) -> None:
        """`gone` leave the loop before their next token (their callers hung up)."""
        self._keep([entry for entry in self.requests if all(entry is not other for other in gone)])

    def _keep(self, kept: list[LoopRequest]) -> None:
        """Only `kept`'s rows stay in the cache."""
        first_row, row = {}, 0
        for entry in self.requests:
            first_row[id(entry)] = row
            row += entry.request.rows
        self.requests = kept
        if not kept:
            self.kv.reset()
            self.positions = None
            return
        assert self.positions is not None
        index = [first_row[id(entry)] + offset for entry in kept for offset in range(entry.request.rows)]
        self.kv.keep(index)
        self.positions = self.positions[torch.tensor(index, device=self.positions.device)]


@contextmanager
def decode_loop(t3: T3, stop: threading.Event | None = None, kv: KVRows | None = None) -> Iterator[DecodeLoop]:
    """A loop on `t3` keeping its keys and values in `kv` (a fresh `DynamicKV` when None;
    emptied at the start and the end); for the multilingual T3 its aligned layers attend
    eagerly while it is open. The caller holds the T3's decoding lock for as long."""
    kv = kv or DynamicKV()
    kv.reset()
    try:
        with AlignedAttention().captured(t3) if has_aligned_heads(t3) else nullcontext() as attention:
            yield DecodeLoop(t3, attention, kv, stop)
    finally:
        kv.reset()


@torch.inference_mode()
def decode_batch(t3: T3, requests: list[DecodeRequest] | list[TurboDecodeRequest], stop: threading.Event | None = None, kv: KVRows | None = None) -> list[Tensor]:
    """Speech tokens for each request (1-D, ending with the stop token when it was
    emitted), in the order given: all admitted at once, decoded until the last one stops.
    `stop` set (a shutdown's drain ended) ends the loop at the next step with
    ShuttingDownError."""
    if not requests:
        return []
    with decode_loop(t3, stop, kv) as loop:
        admitted = loop.admit(list(requests))
        while loop.requests:
            loop.step()
    return [entry.tokens for entry in admitted]
