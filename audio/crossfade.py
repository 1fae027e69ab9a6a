"""Joining clips with an equal-power crossfade, so loudness does not dip at the seam: in
memory for a few TTS chunks (`crossfade_join`), or streaming into a writer for long
concatenations (`StreamingJoiner`), with the same seam."""

from __future__ import annotations

from typing import Protocol

import numpy as np


def seam(tail: np.ndarray, head: np.ndarray) -> np.ndarray:
    """`tail` fading out over `head` fading in (equal length), cos/sin so power stays level."""
    phase = np.linspace(0.0, np.pi / 2, len(tail), dtype=np.float32)
    return tail * np.cos(phase) + head * np.sin(phase)


def crossfade_join(clips: list[np.ndarray], sample_rate: int, crossfade_ms: int, gaps: list[int] | None = None) -> np.ndarray:
    """Concatenate mono clips, overlapping each seam by `crossfade_ms` (shortened when a
    clip is shorter than the fade). `gaps`: samples of silence before each clip (the clip
    before fades out into it)."""
    if not clips:
        return np.zeros(0, dtype=np.float32)
    gaps = gaps or [0] * len(clips)
    joined = np.concatenate([np.zeros(gaps[0], dtype=np.float32), clips[0]]).astype(np.float32)
    for clip, gap in zip(clips[1:], gaps[1:], strict=True):
        if gap:
            clip = np.concatenate([np.zeros(gap, dtype=np.float32), clip])
        overlap = min(int(sample_rate * crossfade_ms / 1000), len(joined), len(clip))
        if overlap == 0:
            joined = np.concatenate([joined, clip])
            continue
        joined = np.concatenate([joined[:-overlap], seam(joined[-overlap:], clip[:overlap]), clip[overlap:]])
    return joined.astype(np.float32)


class BlockSink(Protocol):
    def write(self, samples: np.ndarray) -> None: ...


class StreamingJoiner:
    """Appends segments to `sink`, crossfading each seam over `overlap` samples, holding back
    only the last `overlap` samples written (the next seam needs them). A segment may come in
    pieces (`add` its first, `extend` with the rest): its seam waits until it has `overlap`
    samples. Output length is the sum of the segments (and gaps) less one overlap per seam."""

    def __init__(self, sink: BlockSink, overlap: int) -> None:
        self.sink = sink
        self.overlap = overlap
        self._tail: np.ndarray | None = None
        self._head: np.ndarray | None = None  # a segment's start, until it covers the seam
        self.written = 0  # samples given to the sink

    @property
    def length(self) -> int:
        """Samples of the joined timeline so far, the held ones included."""
        return self.written + sum(len(part) for part in (self._tail, self._head) if part is not None)

    def start_of_next(self, gap: int) -> int:
        """Where a segment `add`ed now with `gap` starts in the timeline (its fade-in begins
        over the held tail)."""
        return self.length - (len(self._tail) if self._tail is not None and self._head is None else 0) + gap

    def add(self, segment: np.ndarray, gap: int = 0) -> None:
        """A new segment (or its first piece); `gap` samples of silence go before it (after
        the previous one)."""
        if self._head is not None:
            self._seam(force=True)
        self._head = np.concatenate([np.zeros(gap, dtype=np.float32), segment]) if gap else segment
        self._seam()

    def extend(self, samples: np.ndarray) -> None:
        """More of the current segment (no seam: it continues where the last call ended)."""
        if self._head is not None:
            self._head = np.concatenate([self._head, samples])
            self._seam()
        elif self._tail is None:
            self.add(samples)
        else:
            self._write_holding_tail(np.concatenate([self._tail, samples]))

    def _seam(self, force: bool = False) -> None:
        """The pending segment start joined to the tail, once it is long enough for the fade
        (`force`: now, padded if it is not: never drop audio)."""
        assert self._head is not None
        segment = self._head
        if self._tail is not None and len(self._tail):
            if len(segment) < len(self._tail):
                if not force:
                    return
                segment = np.concatenate([segment, np.zeros(len(self._tail) - len(segment), dtype=np.float32)])
            segment = np.concatenate([seam(self._tail, segment[: len(self._tail)]), segment[len(self._tail) :]])
        self._head = None
        self._write_holding_tail(segment)

    def _write_holding_tail(self, segment: np.ndarray) -> None:
        keep = min(self.overlap, len(segment))
        self.sink.write(segment[: len(segment) - keep])
        self.written += len(segment) - keep
        self._tail = segment[len(segment) - keep :]

    def finish(self) -> None:
        if self._head is not None:
            self._seam(force=True)
        if self._tail is not None:
            self.sink.write(self._tail)
            self.written += len(self._tail)
            self._tail = None
