"""The multilingual T3's stopping rule, for rows of a batch.

Upstream's multilingual `T3.inference` watches three attention heads that track where in the
text the speech is (`LLAMA_ALIGNED_HEADS`: layers 9, 12 and 13 of the 30-layer checkpoint)
with its `AlignmentStreamAnalyzer`: it holds the stop token back until the speech reaches the
end of the text, and forces it on a long tail, a repeat of earlier text or a token said twice
in a row. Without it the multilingual model babbles past the end of short texts.

Upstream gets the maps by switching the whole transformer to eager attention (and adds three
hooks on every call, never removed). Here only the three aligned layers run eager, and only
while a multilingual batch decodes (`AlignedAttention`); the other layers keep SDPA. The
analyzer itself is upstream's class, fed each request's own rows of the batch's maps.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from chatterbox.models.t3 import T3
from chatterbox.models.t3.inference.alignment_stream_analyzer import LLAMA_ALIGNED_HEADS, AlignmentStreamAnalyzer
from torch import Tensor


def has_aligned_heads(t3: T3) -> bool:
    """Whether this T3 stops by alignment: the multilingual T3 with the layers upstream's
    heads live in (a small random-weight T3 lacks them; random mode ends utterances by length)."""
    return t3.hp.is_multilingual and not t3.is_gpt and len(t3.tfmr.layers) > max(layer for layer, _ in LLAMA_ALIGNED_HEADS)


class RowAlignment(AlignmentStreamAnalyzer):
    """Upstream's analyzer for one request, without the hooks its constructor adds: the batch
    loop hands it its own attention maps (`last_aligned_attns`) before each step."""

    def __init__(self, text_slice: tuple[int, int], stop_token: int) -> None:
        super().__init__(None, None, text_tokens_slice=text_slice, eos_idx=stop_token)

    def _add_attention_spy(self, tfmr: object, buffer_idx: int, layer_idx: int, head_idx: int) -> None:
        """No hook: `AlignedAttention` captures the maps for the whole batch."""


class AlignedAttention:
    """The aligned heads' attention maps of each forward pass, (rows, queries, keys) each."""

    def __init__(self) -> None:
        self.maps: list[Tensor | None] = [None] * len(LLAMA_ALIGNED_HEADS)

    def of_row(self, row: int, padding: int, end: int | None = None) -> list[Tensor]:
        """One row's maps with its left padding cut from keys (and, for the prompt pass, from
        queries), and the keys past `end` (a static cache's unused columns): what upstream
        sees for that request alone."""
        return [heads[row, padding if heads.size(1) > 1 else 0 :, padding:end] for heads in self.maps if heads is not None]

    @contextmanager
    def captured(self, t3: T3) -> Iterator[AlignedAttention]:
        """While open, the aligned layers attend eagerly and record their heads' maps (on the
        CPU, where the analyzer reads them). The caller holds the T3's decoding lock."""
        handles = []
        configs = {}
        try:
            for index, (layer, head) in enumerate(LLAMA_ALIGNED_HEADS):
                attention = t3.tfmr.layers[layer].self_attn
                configs[layer] = attention.config
                attention.config = copy.copy(attention.config)
                attention.config._attn_implementation = "eager"
                handles.append(attention.register_forward_hook(self._recorder(index, head)))
            yield self
        finally:
            for handle in handles:
                handle.remove()
            for layer, config in configs.items():
                t3.tfmr.layers[layer].self_attn.config = config

    def _recorder(self, index: int, head: int):  # noqa: ANN202 - a torch hook
        def record(module: torch.nn.Module, inputs: object, output: tuple[Tensor, Tensor]) -> None:
            self.maps[index] = output[1][:, head].float().cpu()  # the analyzer's thresholds are float32's

        return record


def additive_mask(mask: Tensor, queries: int, dtype: torch.dtype) -> Tensor:
    """The (rows, 1, queries, keys) additive mask for a pass of `queries` new tokens over
    `mask`'s keys (1 real, 0 padding), causal among the new tokens: eager attention needs it
    spelt out, where SDPA builds its own from the 2-D mask."""
    keys = mask.size(1)
    allowed = mask.bool()[:, None, None, :]
    if queries > 1:
        allowed = allowed & torch.ones(queries, keys, dtype=torch.bool, device=mask.device).tril(keys - queries)
    return torch.zeros(allowed.shape, dtype=dtype, device=mask.device).masked_fill(~allowed, torch.finfo(dtype).min)
