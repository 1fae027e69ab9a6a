"""The concatenation pipeline: one segment at a time, from source to the output file.

Each segment is loaded (decoded, downmixed, resampled), cleaned (trim, noise reduction),
levelled, and handed to a `StreamingJoiner` that writes all but the crossfade tail straight
into the encoder. At any moment the process holds the segment being processed, the previous
segment's tail and the writer's buffer: memory does not grow with the number or length of
inputs, so a hundred five-minute files join in the same footprint as two.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import librosa
import numpy as np

from audio.crossfade import StreamingJoiner
from audio.encoding import AudioWriter, EncodeSpec
from audio.levels import normalize
from concat.request import ConcatRequest

logger = logging.getLogger(__name__)


class ConcatCancelledError(RuntimeError):
    """The job was cancelled between two segments."""


class SegmentError(ValueError):
    """A segment could not be read; names the input the way the request did."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class Segment:
    position: int  # in `inputs` as the request listed them
    label: str  # what it is, for metadata and errors: "output tts_...wav", "silence 500 ms"
    seconds: float  # known before loading: metadata, an upload's decoded length, or the silence
    load: Callable[[int], np.ndarray] | None  # mono float32 at the given rate; None for silence

    @property
    def field(self) -> str:
        return f"inputs[{self.position}]"


@dataclass
class ConcatReport:
    seconds: float = 0.0
    pauses_ms: list[int] = field(default_factory=list)
    gains_db: list[float | None] = field(default_factory=list)
    trimmed_seconds: list[float] = field(default_factory=list)


ProgressCallback = Callable[[int, float], None]  # (segments done, input seconds done)


def _clean(samples: np.ndarray, sample_rate: int, request: ConcatRequest, report: ConcatReport) -> np.ndarray:
    before = len(samples)
    if request.trim_silence and samples.size:
        samples, _ = librosa.effects.trim(samples, top_db=request.trim_threshold_db)
    report.trimmed_seconds.append(round((before - len(samples)) / sample_rate, 3))
    if request.noise_reduction and samples.size:
        import noisereduce

        samples = noisereduce.reduce_noise(y=samples, sr=sample_rate, stationary=True).astype(np.float32)
    samples, gain = normalize(samples, sample_rate, request.normalize, request.level_target)
    report.gains_db.append(gain)
    return samples


def run_concat(
    segments: list[Segment], request: ConcatRequest, spec: EncodeSpec, path: Path, seed: int,
    on_progress: ProgressCallback, cancelled: Callable[[], bool],
) -> ConcatReport:
    """Join `segments` into the file at `path`; on any failure the partial file is left for
    the caller's clean-up (it owns the folder)."""
    rate = spec.sample_rate
    jitter = random.Random(seed)
    report = ConcatReport()
    done_seconds = 0.0
    with AudioWriter(path, spec) as writer:
        joiner = StreamingJoiner(writer, int(rate * request.crossfade_ms / 1000))
        for number, segment in enumerate(segments):
            if cancelled():
                raise ConcatCancelledError()
            started = time.perf_counter()
            if segment.load is None:
                samples = np.zeros(int(round(segment.seconds * rate)), dtype=np.float32)
                report.gains_db.append(None)
                report.trimmed_seconds.append(0.0)
            else:
                try:
                    samples = segment.load(rate)
                except ValueError as exc:
                    raise SegmentError(segment.field, str(exc)) from exc
                samples = _clean(samples, rate, request, report)
            pause = 0
            if number > 0 and request.pause_ms:
                pause = max(0, request.pause_ms + jitter.randint(-request.pause_jitter_ms, request.pause_jitter_ms))
                report.pauses_ms.append(pause)
            joiner.add(samples, int(rate * pause / 1000))
            del samples
            done_seconds += segment.seconds
            on_progress(number + 1, done_seconds)
            logger.debug("segment joined", extra={"segment": segment.label, "seconds": round(time.perf_counter() - started, 3)})
        joiner.finish()
        report.seconds = round(writer.seconds, 3)
    return report
