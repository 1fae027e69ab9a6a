"""T3's decode step as CUDA graphs, one per bucket of rows (1, 2, 4, ... up to the cache's rows).

A decode step on a GPU is hundreds of small kernels (a 30-layer Llama: norms, projections,
rotary, attention, MLP per layer) for one token per row; launched from Python one by one, the
GPU waits on the launches, not on the arithmetic. A captured graph launches them all at once.
It needs every tensor at a fixed address with a fixed shape, which is what `StaticKV` gives:
the keys and values, the additive mask and the shared write column live in its buffers; the
step's inputs (embeddings, position ids) are copied into this module's buffers, and the
logits come out of one. A loop of `rows` rows replays the graph of the smallest bucket that
holds them; the bucket's extra rows compute on stale slots and are never read.

A bucket is captured when first needed: two eager runs on a side stream (CUDA's warm-up,
which also computes this very step), the capture, then one replay checked against the eager
logits. A capture that fails or disagrees turns graphs off for this cache, with a log line,
and the step runs eagerly: slower, never wrong. `model.cuda_graphs: false` never captures.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
from chatterbox.models.t3 import T3
from torch import Tensor
from transformers import StaticCache

from models.t3_batch import speech_logits

logger = logging.getLogger(__name__)

AGREEMENT = 1e-2  # a replay's logits within this share of their scale of the eager step's


class StepGraphs:
    """The captured steps over one `StaticKV`'s buffers: its cache's first rows (`views`), its
    (rows, 1, 1, columns) additive mask `bias` and its shared write column `write_at`."""

    def __init__(self, t3: T3, views: Callable[[int], StaticCache], bias: Tensor, write_at: Tensor) -> None:
        self.t3 = t3
        self.views, self.bias, self.write_at = views, bias, write_at
        rows, device, dtype = bias.size(0), t3.device, bias.dtype
        self.embeds = torch.zeros(rows, 1, t3.dim, dtype=dtype, device=device)
        self.positions = torch.zeros(rows, 1, dtype=torch.long, device=device)
        self.logits = torch.zeros(rows, t3.speech_head.out_features, dtype=torch.float32, device=device)
        self.graphs: dict[int, torch.cuda.CUDAGraph] = {}
        self.off = False  # a capture failed: eager from now on

    def bucket(self, rows: int) -> int:
        return min(1 << (rows - 1).bit_length(), self.bias.size(0))

    def step(self, embeds: Tensor, positions: Tensor) -> Tensor | None:
        """The logits of this step from its graph, or None where graphs are off (the caller
        runs it eagerly)."""
        if self.off:
            return None
        rows = embeds.size(0)
        self.embeds[:rows].copy_(embeds)
        self.positions[:rows].copy_(positions)
        bucket = self.bucket(rows)
        graph = self.graphs.get(bucket)
        if graph is None:
            graph = self._captured(bucket)
            if graph is None:
                return None
        graph.replay()
        return self.logits[:rows].clone()

    def _run(self, rows: int) -> None:
        """The step the graph holds: T3 over the first `rows` slots, logits into `self.logits`."""
        out = self.t3.tfmr(
            inputs_embeds=self.embeds[:rows],
            attention_mask=self.bias[:rows],
            position_ids=self.positions[:rows],
            past_key_values=self.views(rows),
            use_cache=True,
            cache_position=self.write_at,
        )
        self.logits[:rows] = speech_logits(self.t3, out.last_hidden_state)

    def _captured(self, rows: int) -> torch.cuda.CUDAGraph | None:
        try:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(2):
                    self._run(rows)
            torch.cuda.current_stream().wait_stream(side)
            eager = self.logits[:rows].clone()
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                self._run(rows)
            graph.replay()
            gap = float((self.logits[:rows] - eager).abs().max())
            scale = float(eager.abs().max()) or 1.0
            if gap > AGREEMENT * scale:
                raise RuntimeError(f"the captured step's logits differ from the eager step's by {gap:.3g} (scale {scale:.3g})")
        except Exception as exc:
            self.off = True
            logger.warning("CUDA graph capture failed: T3 steps run eagerly", extra={"rows": rows, "error": str(exc)})
            return None
        self.graphs[rows] = graph
        logger.info("captured a T3 decode step", extra={"rows": rows})
        return graph
