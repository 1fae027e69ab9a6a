"""Changing speech speed without changing its pitch.

Three time-stretchers, best for speech first: audiostretchy (TDHS, a time-domain method
made for voice), librosa (phase vocoder) and torchaudio (phase vocoder on torch). `auto`
tries them in that order and falls back when one is missing, fails or cannot reach the speed; the one that did the
work is returned so it can be recorded with the output. A speed of 1.0 is returned as is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal

import numpy as np

from audio.decoding import to_int16
from contract.parameters import MAX_SPEED, MIN_SPEED

logger = logging.getLogger(__name__)

SpeedLibrary = Literal["auto", "audiostretchy", "librosa", "torchaudio"]
PITCH_RANGE_HZ = (55, 333)  # the voice pitch range TDHS searches for periods in
N_FFT = 1024
HOP = 256


class SpeedChangeError(RuntimeError):
    """No time-stretcher could process the audio."""


def _audiostretchy(samples: np.ndarray, sample_rate: int, speed: float) -> np.ndarray:
    from audiostretchy.interface.tdhs import TDHSAudioStretch

    ratio = 1.0 / speed  # audiostretchy's ratio is output length over input length
    lowest, highest = PITCH_RANGE_HZ
    stretcher = TDHSAudioStretch(sample_rate // highest, sample_rate // lowest, 1, 0)
    try:
        pcm = to_int16(samples)
        output = np.zeros(stretcher.output_capacity(len(pcm), ratio), dtype=np.int16)
        count = stretcher.process_samples(pcm, len(pcm), output, ratio)
        count += stretcher.flush(output[count:])
    finally:
        stretcher.deinit()
    return output[:count].astype(np.float32) / 32768.0


def _librosa(samples: np.ndarray, sample_rate: int, speed: float) -> np.ndarray:
    import librosa

    return librosa.effects.time_stretch(samples, rate=speed, n_fft=N_FFT, hop_length=HOP).astype(np.float32)


def _torchaudio(samples: np.ndarray, sample_rate: int, speed: float) -> np.ndarray:
    import torch
    import torchaudio.functional

    window = torch.hann_window(N_FFT)
    spectrum = torch.stft(torch.from_numpy(samples), N_FFT, HOP, window=window, return_complex=True)
    advance = torch.linspace(0, np.pi * HOP, spectrum.shape[-2])[..., None]
    stretched = torchaudio.functional.phase_vocoder(spectrum, speed, advance)
    length = int(round(len(samples) / speed))
    return torch.istft(stretched, N_FFT, HOP, window=window, length=length).numpy().astype(np.float32)


STRETCHERS: dict[str, Callable[[np.ndarray, int, float], np.ndarray]] = {
    "audiostretchy": _audiostretchy,
    "librosa": _librosa,
    "torchaudio": _torchaudio,
}
# TDHS cannot stretch beyond 2x either way (it silently clamps), so outside this range the
# phase vocoders do the work.
SPEED_RANGES = {"audiostretchy": (0.5, 2.0)}


def _can_stretch(library: str, speed: float) -> bool:
    lowest, highest = SPEED_RANGES.get(library, (MIN_SPEED, MAX_SPEED))
    return lowest <= speed <= highest


def change_speed(samples: np.ndarray, sample_rate: int, speed: float, library: SpeedLibrary = "auto") -> tuple[np.ndarray, str | None]:
    """`samples` played `speed` times faster at the same pitch, and the library used (None
    when nothing had to be done). A named library is tried first, then the others."""
    if speed == 1.0 or samples.size == 0:
        return samples, None
    order = list(STRETCHERS) if library == "auto" else [library, *(name for name in STRETCHERS if name != library)]
    order = [name for name in order if _can_stretch(name, speed)]
    failures = []
    for name in order:
        try:
            return STRETCHERS[name](samples, sample_rate, speed), name
        except Exception as exc:  # a missing or broken library: try the next one
            logger.warning("time-stretcher failed; falling back", extra={"library": name, "error": f"{type(exc).__name__}: {exc}"[:300]})
            failures.append(f"{name}: {type(exc).__name__}")
    raise SpeedChangeError("no time-stretcher could change the speed (" + "; ".join(failures) + ")")
