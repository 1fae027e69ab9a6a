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

from audio.decoding import to_int16
from config import AudioSettings
from contract.formats import SAMPLE_RATES, OutputFormat


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


# the lossy formats (`LOSSY_FORMATS`, which take a bitrate): format -> (ffmpeg codec, ffmpeg muxer)
FFMPEG_ENCODERS = {
    OutputFormat.mp3: ("libmp3lame", "mp3"),
    OutputFormat.opus: ("libopus", "ogg"),
    OutputFormat.aac: ("aac", "adts"),
}
# A response streamed while generated: FLAC goes through ffmpeg too, each packet is written
# as soon as it is encoded, and Ogg pages are cut every 100 ms instead of every second, so
# Opus starts about as soon as MP3 does.
STREAM_ENCODERS = FFMPEG_ENCODERS | {OutputFormat.flac: ("flac", "flac")}
STREAMING_FLAGS = ["-flush_packets", "1", "-page_duration", "100000"]
STREAMING_INPUT_FLAGS = ["-probesize", "32", "-analyzeduration", "0"]


# Time limits on ffmpeg: encoders run hundreds of times faster than real time, so a process
# still busy after these is stuck, not slow.
ENCODE_BASE_SECONDS = 60.0
ENCODE_MIN_SPEED = 5.0  # seconds of audio per second of encoding, at least


def ffmpeg_command(spec: EncodeSpec, destination: str, *, streaming: bool = False) -> list[str]:
    """int16 mono PCM on stdin to `destination` (a path, or `pipe:1`) in a lossy format,
    or with `streaming` in any of STREAM_ENCODERS, flushed packet by packet."""
    codec, muxer = (STREAM_ENCODERS if streaming else FFMPEG_ENCODERS)[spec.format]
    command = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error"]
    if streaming:  # start on the first block instead of analysing seconds of input first
        command += STREAMING_INPUT_FLAGS
    command += ["-f", "s16le", "-ar", str(spec.sample_rate), "-ac", "1", "-i", "pipe:0", "-c:a", codec]
    if spec.bitrate:
        command += ["-b:a", spec.bitrate]
    if streaming:
        command += STREAMING_FLAGS
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
    time_limit = ENCODE_BASE_SECONDS + len(samples) / spec.sample_rate / ENCODE_MIN_SPEED
    try:
        done = subprocess.run(ffmpeg_command(spec, "pipe:1"), input=to_int16(samples).tobytes(), capture_output=True, check=False, timeout=time_limit)
    except subprocess.TimeoutExpired:
        raise AudioEncodeError(f"ffmpeg took over {time_limit:.0f} s to encode {spec.format.value}") from None
    except OSError as exc:
        raise AudioEncodeError(f"cannot run ffmpeg: {exc}") from exc
    if done.returncode != 0:
        raise AudioEncodeError(f"ffmpeg failed to encode {spec.format.value}: {done.stderr.decode(errors='replace')[-300:]}")
    return done.stdout


class FFmpegEncoder:
    """One ffmpeg process encoding int16 PCM written to its stdin, into a file or, for
    streaming, into its stdout (`pipe:1`, read by the caller)."""

    def __init__(self, spec: EncodeSpec, destination: str, *, streaming: bool = False) -> None:
        self.spec = spec
        output = subprocess.PIPE if destination == "pipe:1" else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(ffmpeg_command(spec, destination, streaming=streaming), stdin=subprocess.PIPE, stdout=output, stderr=subprocess.PIPE)
        except OSError as exc:
            raise AudioEncodeError(f"cannot run ffmpeg: {exc}") from exc

    def write(self, data: bytes) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(data)
            self.process.stdin.flush()
        except BrokenPipeError:
            raise AudioEncodeError(f"ffmpeg stopped while encoding {self.spec.format.value}: {self._error()}") from None

    def _error(self) -> str:
        self.process.wait()
        return (self.process.stderr.read() if self.process.stderr else b"").decode(errors="replace")[-300:]

    def finish(self) -> None:
        """End of input: waits for ffmpeg to write the rest (a caller reading stdout keeps
        reading meanwhile) and raises if it failed."""
        assert self.process.stdin is not None
        try:
            self.process.stdin.close()
        except BrokenPipeError:
            pass
        try:
            status = self.process.wait(timeout=ENCODE_BASE_SECONDS)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AudioEncodeError(f"ffmpeg did not finish {self.spec.format.value} within {ENCODE_BASE_SECONDS:g} s of its input ending") from None
        if status != 0:
            raise AudioEncodeError(f"ffmpeg failed to encode {self.spec.format.value}: {self._error()}")

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    def close_pipes(self) -> None:
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream:
                stream.close()


class AudioWriter:
    """Appends mono float32 blocks (already at the spec's rate) to a file; `close` finishes
    it, `abort` stops without finishing (the caller removes the file)."""

    def __init__(self, path: Path, spec: EncodeSpec) -> None:
        self.path = path
        self.spec = spec
        self.frames = 0
        self._sound: sf.SoundFile | None = None
        self._raw: io.BufferedWriter | None = None
        self._ffmpeg: FFmpegEncoder | None = None
        if spec.format in FFMPEG_ENCODERS:
            self._ffmpeg = FFmpegEncoder(spec, str(path))
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
        assert self._ffmpeg is not None
        self._ffmpeg.write(data)

    def close(self) -> None:
        if self._sound is not None:
            self._sound.close()
        elif self._raw is not None:
            self._raw.close()
        elif self._ffmpeg is not None:
            try:
                self._ffmpeg.finish()
            finally:
                self._ffmpeg.close_pipes()

    def abort(self) -> None:
        if self._ffmpeg is not None:
            self._ffmpeg.kill()
            self._ffmpeg.close_pipes()
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
