"""Where a T3 loop keeps its rows' keys and values, and which columns each row sees.

The loop (`models/t3_loop.py`) decides which rows join and leave; a `KVRows` stores them.
Two stores, chosen by `model.kv_cache` (`kv_plan`), decode the same tokens:

- `DynamicKV`: transformers' `DynamicCache`, grown by one column a step and cut to the rows
  that stay when requests leave (with the left padding they all share). Each pass attends
  over exactly the columns in use, which is what a CPU wants; but every step allocates new
  tensors, and shapes change every step, so nothing can be captured.
- `StaticKV`: transformers' `StaticCache`, allocated once for `rows` rows and `columns`
  columns and reused by every loop of the runner. All rows write their next token at one
  shared column (an explicit `cache_position`), and a 4-D additive mask says which columns
  are each row's own: its left padding, columns past the shared one and the columns of
  rows that held its slot before are masked. Every step has the same shapes and the same
  addresses, so on CUDA it is replayed as a captured graph (`models/step_graphs.py`). When
  the shared column reaches the end, the padding every row shares is cut (a copy, rare);
  when a prompt does not fit, the buffers grow (and the graphs are captured again).

Masked columns add exactly zero to each row's attention, so a row sees what it sees alone.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from chatterbox.models.t3 import T3
from torch import Tensor
from transformers import StaticCache

from models.step_graphs import StepGraphs
from models.t3_alignment import AlignedAttention
from models.t3_batch import logits_of, speech_logits, t3_dtype

logger = logging.getLogger(__name__)

PROMPT_COLUMNS = 448  # room for a chunk's prompt (conditioning, text) besides its speech tokens
COLUMN_ALIGN = 64  # columns come in multiples of this (aligned masks for the fused attention kernels)


class KVRows(ABC):
    """The keys and values of a loop's rows, in loop order. `starts[row]` is the row's first
    column of its own (what comes before is padding); a pass's keys end at `end`."""

    def __init__(self) -> None:
        self.starts: list[int] = []

    @property
    def rows(self) -> int:
        return len(self.starts)

    @property
    def replays_graphs(self) -> bool:
        """Whether its steps replay as captured CUDA graphs (no capture has failed)."""
        return False

    @property
    @abstractmethod
    def end(self) -> int:
        """The columns the last pass attended over."""

    @abstractmethod
    def reset(self) -> None:
        """No rows (a loop starts or ended)."""

    @abstractmethod
    def join(self, past: object, mask: Tensor, starts: list[int]) -> None:
        """Adds a prefill's rows after the current ones: its cache `past`, its (rows, width)
        mask (1 real, 0 padding) and its rows' left padding."""

    @abstractmethod
    def forward(self, t3: T3, embeds: Tensor, positions: Tensor, attention: AlignedAttention | None) -> Tensor:
        """One token per row through T3 (`embeds` (rows, 1, D), `positions` (rows, 1)), its
        keys and values kept; the (rows, V) float32 logits of each row's next token."""

    @abstractmethod
    def keep(self, index: list[int]) -> None:
        """Only rows `index` stay, in that order (at least one)."""


class DynamicKV(KVRows):
    """transformers' `DynamicCache`, sized to the columns in use."""

    def __init__(self) -> None:
        super().__init__()
        self.reset()

    def reset(self) -> None:
        self.starts = []
        self._past: object | None = None
        self._mask: Tensor | None = None  # (rows, columns): 1 real, 0 padding

    @property
    def end(self) -> int:
        return 0 if self._mask is None else self._mask.size(1)

    def join(self, past: object, mask: Tensor, starts: list[int]) -> None:
        if self._mask is None:
            self._past, self._mask, self.starts = past, mask, list(starts)
            return
        columns = max(self._mask.size(1), mask.size(1))
        grow_old, grow_new = columns - self._mask.size(1), columns - mask.size(1)
        for old, new in zip(self._past.layers, past.layers, strict=True):  # type: ignore[attr-defined]
            old.keys = torch.cat([F.pad(old.keys, (0, 0, grow_old, 0)), F.pad(new.keys, (0, 0, grow_new, 0))])
            old.values = torch.cat([F.pad(old.values, (0, 0, grow_old, 0)), F.pad(new.values, (0, 0, grow_new, 0))])
        self._mask = torch.cat([F.pad(self._mask, (grow_old, 0)), F.pad(mask, (grow_new, 0))])
        self.starts = [start + grow_old for start in self.starts] + [start + grow_new for start in starts]

    def forward(self, t3: T3, embeds: Tensor, positions: Tensor, attention: AlignedAttention | None) -> Tensor:
        assert self._mask is not None
        self._mask = torch.cat([self._mask, torch.ones_like(self._mask[:, :1])], dim=1)
        logits, self._past = logits_of(t3, embeds, self._mask, positions, self._past, attention)
        return logits

    def keep(self, index: list[int]) -> None:
        """Also cuts the padding every remaining row has on the left: a long prompt that
        left costs nothing more."""
        assert self._mask is not None
        rows = torch.tensor(index, device=self._mask.device)
        self._past.batch_select_indices(rows)  # type: ignore[attr-defined]
        self._mask, self.starts = self._mask[rows], [self.starts[row] for row in index]
        shared = min(self.starts)
        if shared:
            for layer in self._past.layers:  # type: ignore[attr-defined]
                layer.keys, layer.values = layer.keys[..., shared:, :], layer.values[..., shared:, :]
            self._mask = self._mask[:, shared:]
            self.starts = [start - shared for start in self.starts]


class StaticKV(KVRows):
    """transformers' `StaticCache` for up to `capacity_rows` rows and `columns` columns,
    reused across loops; see the module's docstring."""

    def __init__(self, t3: T3, capacity_rows: int, columns: int, graphs: bool = False) -> None:
        super().__init__()
        self.t3 = t3
        self.want_graphs = graphs
        self.column = 0  # where every row writes its next token
        self._allocate(capacity_rows, _aligned(columns))

    def _allocate(self, capacity_rows: int, columns: int, keep_rows: int = 0) -> None:
        """Buffers for `capacity_rows` x `columns`, keeping the first `keep_rows` rows' columns in use."""
        t3, dtype = self.t3, t3_dtype(self.t3)
        config = t3.cfg
        heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        cache = StaticCache(config=config, max_cache_len=columns)
        cache.early_initialization(capacity_rows, heads, head_dim, dtype, t3.device)
        bias = torch.full((capacity_rows, 1, 1, columns), torch.finfo(dtype).min, dtype=dtype, device=t3.device)
        if keep_rows:
            for (keys, values), new in zip(self.buffers, cache.layers, strict=True):
                new.keys[:keep_rows, :, : self.column] = keys[:keep_rows, :, : self.column]
                new.values[:keep_rows, :, : self.column] = values[:keep_rows, :, : self.column]
            bias[:keep_rows, ..., : self.column] = self.bias[:keep_rows, ..., : self.column]
            self.want_graphs = self.want_graphs and (self.graphs is None or not self.graphs.off)  # a capture that failed is not retried
        self.cache, self.bias = cache, bias
        self.buffers = [(layer.keys, layer.values) for layer in cache.layers]
        self.capacity_rows, self.columns = capacity_rows, columns
        self.write_at = torch.zeros(1, dtype=torch.long, device=t3.device)  # the shared column, as T3 takes it
        self.graphs = StepGraphs(t3, self.views, bias, self.write_at) if self.want_graphs else None
        size = sum(keys.numel() * keys.element_size() * 2 for keys, _ in self.buffers)
        logger.info("static KV cache", extra={"rows": capacity_rows, "columns": columns, "bytes": size, "cuda_graphs": self.graphs is not None})

    def reset(self) -> None:
        self.starts, self.column = [], 0

    @property
    def replays_graphs(self) -> bool:
        return self.graphs is not None and not self.graphs.off

    @property
    def end(self) -> int:
        return self.column

    def views(self, rows: int) -> StaticCache:
        """The cache as T3 sees it for the first `rows` slots (views: writes land in the buffers)."""
        for layer, (keys, values) in zip(self.cache.layers, self.buffers, strict=True):
            layer.keys, layer.values = keys[:rows], values[:rows]
        return self.cache

    def _move(self, source: int, target: int, length: int) -> None:
        """Columns [source, source + length) of the rows in use to [target, ...)."""
        rows = self.rows
        for keys, values in self.buffers:
            keys[:rows, :, target : target + length] = keys[:rows, :, source : source + length].clone()
            values[:rows, :, target : target + length] = values[:rows, :, source : source + length].clone()
        self.bias[:rows, ..., target : target + length] = self.bias[:rows, ..., source : source + length].clone()

    def _make_room(self, width: int) -> None:
        """Room for `width` columns at the end and one more column after them: the padding
        all rows share is cut first, then the buffers grow."""
        if max(self.column, width) < self.columns:
            return
        shared = min(self.starts, default=self.column)
        if shared:
            self._move(shared, 0, self.column - shared)
            self.bias[: self.rows, ..., self.column - shared : self.column] = torch.finfo(self.bias.dtype).min
            self.column -= shared
            self.starts = [start - shared for start in self.starts]
        if max(self.column, width) >= self.columns:
            self._allocate(self.capacity_rows, _aligned(max(self.column, width) + self.columns // 2), keep_rows=self.rows)

    def join(self, past: object, mask: Tensor, starts: list[int]) -> None:
        new, width = mask.shape
        if self.rows + new > self.capacity_rows:
            self._allocate(self.rows + new, self.columns, keep_rows=self.rows)
        self._make_room(width)
        if width > self.column:  # the new prompt is longer than the loop: the loop's rows move right
            shift = width - self.column
            self._move(0, shift, self.column)
            self.bias[: self.rows, ..., :shift] = torch.finfo(self.bias.dtype).min
            self.starts = [start + shift for start in self.starts]
            self.column = width
        first, last, begin = self.rows, self.rows + new, self.column - width
        for layer, (keys, values) in zip(past.layers, self.buffers, strict=True):  # type: ignore[attr-defined]
            keys[first:last, :, begin : self.column] = layer.keys
            values[first:last, :, begin : self.column] = layer.values
        self.bias[first:last] = torch.finfo(self.bias.dtype).min
        self.bias[first:last, 0, 0, begin : self.column] = torch.where(mask.bool(), 0.0, torch.finfo(self.bias.dtype).min).to(self.bias.dtype)
        self.starts += [begin + start for start in starts]

    def forward(self, t3: T3, embeds: Tensor, positions: Tensor, attention: AlignedAttention | None) -> Tensor:
        self._make_room(0)
        rows = self.rows
        self.bias[:, 0, 0, self.column] = 0.0  # every slot sees its own new column: an unused slot a graph computes stays finite
        self.write_at.fill_(self.column)
        self.column += 1
        if self.graphs is not None and attention is None:  # the aligned heads' hooks copy maps to the CPU: not capturable
            logits = self.graphs.step(embeds, positions)
            if logits is not None:
                return logits
        out = t3.tfmr(
            inputs_embeds=embeds, attention_mask=self.bias[:rows], position_ids=positions, past_key_values=self.views(rows), use_cache=True, cache_position=self.write_at
        )
        return speech_logits(t3, out.last_hidden_state)

    def keep(self, index: list[int]) -> None:
        if index != list(range(len(index))):
            rows = torch.tensor(index, device=self.bias.device)
            for keys, values in self.buffers:
                keys[: len(index), :, : self.column] = keys[rows, :, : self.column]
                values[: len(index), :, : self.column] = values[rows, :, : self.column]
            self.bias[: len(index), ..., : self.column] = self.bias[rows, ..., : self.column]
        self.starts = [self.starts[row] for row in index]


def _aligned(columns: int) -> int:
    return -(-columns // COLUMN_ALIGN) * COLUMN_ALIGN


@dataclass(frozen=True)
class KVPlan:
    """How a runner's T3 loop keeps its keys and values (`model.kv_cache`, `model.cuda_graphs`)."""

    static: bool = False
    graphs: bool = False
    columns: int = 1000 + PROMPT_COLUMNS  # a chunk's longest utterance (`tts.max_new_tokens`) and its prompt

    def rows_for(self, t3: T3, requests: int) -> KVRows:
        """The store of a loop of up to `requests` requests on `t3` (two rows each with guidance)."""
        if not self.static:
            return DynamicKV()
        return StaticKV(t3, requests * (1 if t3.is_gpt else 2), self.columns, graphs=self.graphs)


def kv_plan(kv_cache: str, cuda_graphs: bool, device: str, max_new_tokens: int) -> KVPlan:
    """`auto`: the static cache (and its graphs, unless `cuda_graphs` is off) on CUDA, where
    allocation and kernel launches dominate a step; the dynamic one elsewhere, where
    attending over only the columns in use is what counts."""
    static = kv_cache == "static" or (kv_cache == "auto" and device == "cuda")
    return KVPlan(static=static, graphs=static and cuda_graphs and device == "cuda", columns=max_new_tokens + PROMPT_COLUMNS)
