"""Bytes to samples and back, for bytes nobody vouches for.

libsndfile (through soundfile) decodes WAV, FLAC, MP3, Ogg (Vorbis/Opus), AIFF and CAF in
process; m4a/mp4, AAC and WebM go through ffmpeg. Both paths take only an allow-list of
containers: ffmpeg's format auto-detection would otherwise open playlists (HLS, the concat
demuxer) whose entries read other files of the server, and turn them into a voice anyone
can download. ffmpeg reads only the one temp file it is given (no other protocol), under a
time limit, and a file is refused as soon as it declares more audio than the caller
accepts, before its samples are decoded (a small FLAC of silence can claim hours).
Encoding lives in `audio.encoding`.
"""

from __future__ import annotations

import io
import struct
import subprocess
import tempfile
from dataclasses import dataclass

import librosa
import numpy as np
import soundfile as sf


class AudioDecodeError(ValueError):
    """The bytes are not audio we can read; the message says why in user terms."""


class AudioTooLongError(AudioDecodeError):
    """The file holds (or declares) more audio than the caller accepts."""


SOUNDFILE_FORMATS = {"WAV", "WAVEX", "RF64", "W64", "FLAC", "OGG", "MP3", "AIFF", "CAF"}
FFMPEG_DEMUXERS = ("aac", "aiff", "flac", "matroska", "mov", "mp3", "ogg", "wav")  # m4a/mp4 are `mov`, webm is `matroska`
FFMPEG_TIMEOUT_SECONDS = 60.0


CLIP_LEVEL = 0.999  # |sample| at or above this counts as clipped (16-bit full scale is 0.99997)


@dataclass(frozen=True)
class DecodedAudio:
    """Mono float32 samples plus what the original file looked like. Peak and clipping are
    measured on the original channels, before downmixing and resampling smooth them away."""

    samples: np.ndarray
    sample_rate: int
    original_sample_rate: int
    original_channels: int
    original_format: str
    original_peak: float
    original_clipping_ratio: float

    @property
    def duration_seconds(self) -> float:
        return len(self.samples) / self.sample_rate


@dataclass(frozen=True)
class UploadedAudio:
    """An uploaded file (or zip member) as sent, and what it decoded to."""

    data: bytes
    filename: str | None
    audio: DecodedAudio


STREAMED_WAV_SIZE = 0xFFFFFFFF


def complete_riff(data: bytes) -> bytes:
    """libsndfile quietly reads what is there of a cut WAV; a cut file is corrupt to us. A
    streamed WAV (OpenAI's, ours) declares the largest size, "unknown": its sizes are set to
    what arrived, so it is read to its end."""
    if not (data[:4] == b"RIFF" and data[8:12] == b"WAVE"):
        return data
    size = struct.unpack("<I", data[4:8])[0]
    if size == STREAMED_WAV_SIZE and (start := data.find(b"data", 12)) > 0:
        body = len(data) - start - 8
        return b"RIFF" + struct.pack("<I", len(data) - 8) + data[8:start] + b"data" + struct.pack("<I", body - body % 2) + data[start + 8 :]
    if size + 8 > len(data):
        raise AudioDecodeError(f"the WAV file is truncated: its header declares {size + 8} bytes, {len(data)} arrived")
    return data


def _too_long(seconds: float, max_seconds: float) -> AudioTooLongError:
    return AudioTooLongError(f"the file holds {seconds:.1f} s of audio; at most {max_seconds:g} s are accepted")


class _NotForSoundfile(Exception):
    """libsndfile does not read it, or reads a container we do not take from it."""


def _decode_with_soundfile(data: bytes, max_seconds: float | None) -> tuple[np.ndarray, int, str]:
    try:
        handle = sf.SoundFile(io.BytesIO(data))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise _NotForSoundfile from exc
    with handle:
        if handle.format not in SOUNDFILE_FORMATS:
            raise _NotForSoundfile
        if max_seconds is not None and handle.frames > max_seconds * handle.samplerate:
            raise _too_long(handle.frames / handle.samplerate, max_seconds)
        try:
            samples = handle.read(dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, ValueError) as exc:  # ValueError: a streamed FLAC (no length)
            raise _NotForSoundfile from exc
        return samples, handle.samplerate, handle.format.lower()


def _decode_with_ffmpeg(data: bytes, max_seconds: float | None) -> tuple[np.ndarray, int, str]:
    """The first audio stream as float32 WAV, from a private temp file removed on return."""
    with tempfile.NamedTemporaryFile(prefix="decode-", suffix=".audio") as source:
        source.write(data)
        source.flush()
        command = [
            "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
            "-protocol_whitelist", "file", "-format_whitelist", ",".join(FFMPEG_DEMUXERS),
            "-i", f"file:{source.name}", "-map", "0:a:0", "-vn", "-sn", "-dn",
            *(["-t", f"{max_seconds + 1:g}"] if max_seconds is not None else []),
            "-f", "wav", "-acodec", "pcm_f32le", "pipe:1",
        ]
        try:
            done = subprocess.run(command, capture_output=True, timeout=FFMPEG_TIMEOUT_SECONDS, check=False)
        except subprocess.TimeoutExpired:
            raise AudioDecodeError(f"decoding took longer than {FFMPEG_TIMEOUT_SECONDS:g} s; send a plain wav, flac or mp3") from None
        except OSError as exc:
            raise AudioDecodeError(f"cannot run ffmpeg to read this format ({exc})") from None
    if done.returncode != 0 or not done.stdout:
        raise AudioDecodeError("not a readable audio file (tried wav, flac, mp3, ogg/opus, aiff, and ffmpeg for m4a/aac/webm)")
    try:
        samples, rate, _ = _decode_with_soundfile(complete_riff(done.stdout), None)
    except _NotForSoundfile:
        raise AudioDecodeError("ffmpeg could not turn the file into audio samples") from None
    if max_seconds is not None and len(samples) > max_seconds * rate:
        raise AudioTooLongError(f"the file holds more than {max_seconds:g} s of audio; at most {max_seconds:g} s are accepted")
    return samples, rate, "ffmpeg"


def _decode_raw_pcm(data: bytes, sample_rate: int) -> tuple[np.ndarray, int, str]:
    if len(data) % 2:
        raise AudioDecodeError("raw PCM must hold whole 16-bit samples (an even number of bytes)")
    return (np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0)[:, None], sample_rate, "pcm"


def decode(data: bytes, target_sample_rate: int | None = None, *, raw_pcm_rate: int | None = None, max_seconds: float | None = None) -> DecodedAudio:
    """Decode any supported file to mono float32, resampled when `target_sample_rate` is set.
    Headerless 16-bit PCM (our `pcm` outputs) needs its rate: `raw_pcm_rate`. With
    `max_seconds`, a longer file raises AudioTooLongError without being decoded whole."""
    if not data:
        raise AudioDecodeError("the file is empty")
    if raw_pcm_rate is not None:
        samples, sample_rate, fmt = _decode_raw_pcm(data, raw_pcm_rate)
    else:
        data = complete_riff(data)
        try:
            samples, sample_rate, fmt = _decode_with_soundfile(data, max_seconds)
        except _NotForSoundfile:
            samples, sample_rate, fmt = _decode_with_ffmpeg(data, max_seconds)
    if samples.size == 0:
        raise AudioDecodeError("the file holds no audio samples")
    channels = samples.shape[1]
    mono = samples.mean(axis=1, dtype=np.float32)
    if not np.isfinite(mono).all():
        raise AudioDecodeError("the file holds invalid (NaN or infinite) samples")
    rate = sample_rate
    if target_sample_rate and target_sample_rate != sample_rate:
        mono = librosa.resample(mono, orig_sr=sample_rate, target_sr=target_sample_rate).astype(np.float32)
        rate = target_sample_rate
    magnitude = np.abs(samples)
    return DecodedAudio(mono, rate, sample_rate, channels, fmt, float(magnitude.max()), float((magnitude >= CLIP_LEVEL).mean()))


def to_int16(samples: np.ndarray) -> np.ndarray:
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype(np.int16)
