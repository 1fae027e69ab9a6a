"""Bytes to samples and back.

libsndfile (through soundfile) decodes WAV, FLAC, MP3 and Ogg (Vorbis/Opus) in process;
anything else (m4a, aac, ...) goes through ffmpeg via pydub. Encoding lives in
`audio.encoding`.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import librosa
import numpy as np
import soundfile as sf
from pydub import AudioSegment
from pydub.exceptions import CouldntDecodeError


class AudioDecodeError(ValueError):
    """The bytes are not audio we can read; the message says why in user terms."""


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


STREAMED_WAV_SIZE = 0xFFFFFFFF


def _complete_riff(data: bytes) -> bytes:
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


def _decode_with_soundfile(data: bytes) -> tuple[np.ndarray, int, str]:
    with sf.SoundFile(io.BytesIO(data)) as handle:
        samples = handle.read(dtype="float32", always_2d=True)
        return samples, handle.samplerate, handle.format.lower()


def _decode_with_ffmpeg(data: bytes) -> tuple[np.ndarray, int, str]:
    try:
        segment = AudioSegment.from_file(io.BytesIO(data))
    except (CouldntDecodeError, IndexError, OSError) as exc:
        raise AudioDecodeError("not a readable audio file (tried wav, flac, mp3, ogg/opus, and ffmpeg)") from exc
    raw = np.array(segment.get_array_of_samples(), dtype=np.float32)
    scale = float(1 << (8 * segment.sample_width - 1))
    samples = (raw / scale).reshape(-1, segment.channels)
    return samples, segment.frame_rate, "ffmpeg"


def _decode_raw_pcm(data: bytes, sample_rate: int) -> tuple[np.ndarray, int, str]:
    if len(data) % 2:
        raise AudioDecodeError("raw PCM must hold whole 16-bit samples (an even number of bytes)")
    return (np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0)[:, None], sample_rate, "pcm"


def decode(data: bytes, target_sample_rate: int | None = None, *, raw_pcm_rate: int | None = None) -> DecodedAudio:
    """Decode any supported file to mono float32, resampled when `target_sample_rate` is set.
    Headerless 16-bit PCM (our `pcm` outputs) needs its rate: `raw_pcm_rate`."""
    if not data:
        raise AudioDecodeError("the file is empty")
    if raw_pcm_rate is not None:
        samples, sample_rate, fmt = _decode_raw_pcm(data, raw_pcm_rate)
    else:
        data = _complete_riff(data)
        try:
            samples, sample_rate, fmt = _decode_with_soundfile(data)
        except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):  # ValueError: a streamed FLAC (no length)
            samples, sample_rate, fmt = _decode_with_ffmpeg(data)
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
