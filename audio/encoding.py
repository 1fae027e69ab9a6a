"""Samples to files in every output format, whole (`encode`) or block by block (`AudioWriter`).

WAV and FLAC are written in process by libsndfile and raw PCM is the int16 bytes; MP3, Opus
and AAC go through one ffmpeg command (the same for both paths) so bitrates are configurable.
The writer never holds more than the block it is given, which is what lets a concatenation
of hours of audio run in constant memory.
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path
from types import TracebackType

import librosa
import numpy as np
import soundfile as sf
from pydantic import BaseModel, Field

from audio.codec import to_int16
from audio.formats import FFMPEG_ENCODERS, SAMPLE_RATES, OutputFormat
from config import AudioSettings


class AudioEncodeError(RuntimeError):
    """The encoder failed (ffmpeg missing or crashed): a server-side problem."""


class EncodeSpec(BaseModel):
    """What the bytes will be: format, sample rate and (for lossy formats) bitrate."""

    format: OutputFormat
    sample_rate: int = Field(ge=min(SAMPLE_RATES), le=max(SAMPLE_RATES))
    bitrate: str | None = None


def output_spec(fmt: OutputFormat, requested_rate: int | None, settings: AudioSettings, source_rate: int) -> EncodeSpec:
    """The spec an endpoint encodes to: the request's rate, else the configured one, else the
    source's own; the configured bitrate of the format."""
    return EncodeSpec(format=fmt, sample_rate=requested_rate or settings.sample_rate or source_rate, bitrate=settings.bitrate(fmt.value))


def ffmpeg_command(spec: EncodeSpec, destination: str) -> list[str]:
    """int16 mono PCM on stdin to `destination` (a path, or `pipe:1`) in a lossy format."""
    codec, muxer = FFMPEG_ENCODERS[spec.format]
    command = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "s16le", "-ar", str(spec.sample_rate), "-ac", "1", "-i", "pipe:0", "-c:a", codec]
    if spec.bitrate:
        command += ["-b:a", spec.bitrate]
    return command + ["-f", muxer, "-y", destination]


def resample(samples: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    if source_rate == target_rate:
        return samples
    return librosa.resample(samples, orig_sr=source_rate, target_sr=target_rate).astype(np.float32)


def encode(samples: np.ndarray, source_rate: int, spec: EncodeSpec) -> bytes:
    """A complete file in `spec`'s format from mono float32 samples at `source_rate`."""
    samples = resample(samples, source_rate, spec.sample_rate)
    if spec.format is OutputFormat.pcm:
        return to_int16(samples).astype("<i2").tobytes()
    if spec.format not in FFMPEG_ENCODERS:
        buffer = io.BytesIO()
        sf.write(buffer, samples, spec.sample_rate, format=spec.format.value.upper(), subtype="PCM_16")
        return buffer.getvalue()
    try:
        done = subprocess.run(ffmpeg_command(spec, "pipe:1"), input=to_int16(samples).tobytes(), capture_output=True, check=False)
    except OSError as exc:
        raise AudioEncodeError(f"cannot run ffmpeg: {exc}") from exc
    if done.returncode != 0:
        raise AudioEncodeError(f"ffmpeg failed to encode {spec.format.value}: {done.stderr.decode(errors='replace')[-300:]}")
    return done.stdout


class AudioWriter:
    """Appends mono float32 blocks (already at the spec's rate) to a file; `close` finishes
    it, `abort` stops without finishing (the caller removes the file)."""

    def __init__(self, path: Path, spec: EncodeSpec) -> None:
        self.path = path
        self.spec = spec
        self.frames = 0
        self._sound: sf.SoundFile | None = None
        self._raw: io.BufferedWriter | None = None
        self._ffmpeg: subprocess.Popen[bytes] | None = None
        if spec.format in FFMPEG_ENCODERS:
            try:
                self._ffmpeg = subprocess.Popen(ffmpeg_command(spec, str(path)), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            except OSError as exc:
                raise AudioEncodeError(f"cannot run ffmpeg: {exc}") from exc
        elif spec.format is OutputFormat.pcm:
            self._raw = path.open("wb")
        else:
            self._sound = sf.SoundFile(path, "w", samplerate=spec.sample_rate, channels=1, format=spec.format.value.upper(), subtype="PCM_16")

    @property
    def seconds(self) -> float:
        return self.frames / self.spec.sample_rate

    def write(self, samples: np.ndarray) -> None:
        if samples.size == 0:
            return
        self.frames += len(samples)
        if self._sound is not None:
            self._sound.write(samples)
            return
        data = to_int16(samples).astype("<i2").tobytes()
        if self._raw is not None:
            self._raw.write(data)
            return
        assert self._ffmpeg is not None and self._ffmpeg.stdin is not None
        try:
            self._ffmpeg.stdin.write(data)
        except BrokenPipeError:
            raise AudioEncodeError(f"ffmpeg stopped while encoding {self.spec.format.value}: {self._ffmpeg_error()}") from None

    def _ffmpeg_error(self) -> str:
        assert self._ffmpeg is not None
        self._ffmpeg.wait()
        return (self._ffmpeg.stderr.read() if self._ffmpeg.stderr else b"").decode(errors="replace")[-300:]

    def close(self) -> None:
        if self._sound is not None:
            self._sound.close()
        elif self._raw is not None:
            self._raw.close()
        elif self._ffmpeg is not None:
            assert self._ffmpeg.stdin is not None
            try:
                self._ffmpeg.stdin.close()
            except BrokenPipeError:
                pass
            if self._ffmpeg.wait() != 0:
                raise AudioEncodeError(f"ffmpeg failed to encode {self.spec.format.value}: {self._ffmpeg_error()}")
            if self._ffmpeg.stderr:
                self._ffmpeg.stderr.close()

    def abort(self) -> None:
        if self._ffmpeg is not None:
            self._ffmpeg.kill()
            self._ffmpeg.wait()
            for stream in (self._ffmpeg.stdin, self._ffmpeg.stderr):
                if stream:
                    stream.close()
        elif self._sound is not None:
            self._sound.close()
        elif self._raw is not None:
            self._raw.close()

    def __enter__(self) -> AudioWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, trace: TracebackType | None) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()
