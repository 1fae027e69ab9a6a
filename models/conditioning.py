"""Voice conditioning computed per request, never stored on the shared model.

Upstream `ChatterboxTTS.generate` writes the voice into `self.conds`, so two concurrent
requests would speak in whichever voice was set last. Here conditionals are values: built
from a reference clip (each model's way: `ModelFamily.conditionals`, `models/families/`), passed explicitly to generation, and memoised in a bounded LRU keyed
by the clip's content hash, because computing them costs about as much as a short
generation. Exaggeration is not part of the key: it only scales one small tensor, applied
per job (`with_exaggeration`), so a client sweeping it neither recomputes nor evicts anything.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Generic, TypeVar

import numpy as np
import torch
from chatterbox.models.s3gen import S3GEN_SR, S3Gen
from chatterbox.models.t3.modules.cond_enc import T3Cond
from chatterbox.tts import ChatterboxTTS, Conditionals

from contract.metrics import ModelKind, count_cache_lookup

ValueT = TypeVar("ValueT")


class LRUCache(Generic[ValueT]):
    """A thread-safe LRU bounded by entry count, with hit/miss counters for /health. A key
    is computed once at a time: a second caller missing the same key waits for the first
    one's value (and counts a hit) instead of computing it again."""

    def __init__(self, capacity: int, metric_model: ModelKind | None = None) -> None:
        self.capacity = capacity
        self.metric_model = metric_model  # counted on /metrics too, lookup by lookup with `hits` and `misses`
        self._entries: OrderedDict[Hashable, ValueT] = OrderedDict()
        self._computing: dict[Hashable, Future[ValueT]] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def evict(self, matches: Callable[[Hashable], bool]) -> int:
        """Drop every entry whose key `matches`; returns how many were dropped."""
        with self._lock:
            doomed = [key for key in self._entries if matches(key)]
            for key in doomed:
                del self._entries[key]
        return len(doomed)

    def _count(self, counted: bool, *, hit: bool) -> None:
        if not counted:
            return
        if hit:
            self.hits += 1
        else:
            self.misses += 1
        if self.metric_model is not None:
            count_cache_lookup(self.metric_model, hit)

    def get_or_compute(self, key: Hashable, compute: Callable[[], ValueT], *, counted: bool = True) -> tuple[ValueT, bool]:
        """The cached value for `key` (computing and storing it on a miss) and whether it was
        a hit; `counted=False` keeps a repeated lookup of the same job out of the hit rate.
        When the computation fails, its callers (the one computing and those waiting) get its error."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                self._count(counted, hit=True)
                return self._entries[key], True
            pending = self._computing.get(key)
            owner = pending is None
            if pending is None:
                pending = self._computing[key] = Future()
            self._count(counted, hit=not owner)
        if not owner:
            return pending.result(), True
        try:
            value = compute()
        except BaseException as exc:
            with self._lock:
                del self._computing[key]
            pending.set_exception(exc)
            raise
        with self._lock:
            del self._computing[key]
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        pending.set_result(value)
        return value, False


def s3gen_reference(s3gen: S3Gen, reference_24k: np.ndarray, device: str) -> dict:
    """S3Gen's speaker prompt (tokens, mels, x-vector) from at most 10 s of 24 kHz audio."""
    return s3gen.embed_ref(reference_24k[: ChatterboxTTS.DEC_COND_LEN], S3GEN_SR, device=device)


def with_exaggeration(conds: Conditionals, exaggeration: float, device: str) -> Conditionals:
    """A copy of `conds` at another exaggeration: the only conditional that depends on it."""
    t3_cond = T3Cond(
        speaker_emb=conds.t3.speaker_emb,
        cond_prompt_speech_tokens=conds.t3.cond_prompt_speech_tokens,
        emotion_adv=exaggeration * torch.ones(1, 1, 1),
    ).to(device=device)
    return Conditionals(t3_cond, conds.gen)
