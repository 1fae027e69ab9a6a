"""What a recording was measured to be (`audio.analysis` measures it): the model voice
records carry, apart from the measuring, so reading a record needs no signal processing."""

from __future__ import annotations

from pydantic import BaseModel


class AudioFacts(BaseModel):
    duration_seconds: float
    sample_rate: int  # of the uploaded file
    channels: int  # of the uploaded file
    format: str  # as detected by the decoder
    loudness_lufs: float | None  # integrated loudness (ITU-R BS.1770); None when too short or silent
    peak_dbfs: float
    clipping_ratio: float  # share of samples at full scale, over all original channels
    silence_ratio: float  # share of 20 ms frames that are silence
    longest_silence_seconds: float
    snr_db: float  # loud frames against the quietest tenth: an estimate, not a measurement
