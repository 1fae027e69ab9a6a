"""Audio facts and the quality verdict, on signals whose answer is known."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from audio.analysis import analyse
from audio.decoding import decode
from harness.testdata import read_testdata
from voices.quality import assess

RATE = 24_000


def decoded(samples: np.ndarray, rate: int = RATE) -> object:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format="WAV", subtype="FLOAT")
    return decode(buffer.getvalue(), RATE)


def tone(seconds: float, amplitude: float, hz: float = 220.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def test_real_speech_is_a_good_reference() -> None:
    facts = analyse(decode(read_testdata("voice_alex.wav"), RATE))
    assert facts.duration_seconds == pytest.approx(7.065, abs=0.01)
    assert assess(facts).verdict == "good"


def test_loudness_and_peak_of_a_known_tone() -> None:
    facts = analyse(decoded(tone(4, 0.5, hz=1000)))
    assert facts.peak_dbfs == pytest.approx(-6.02, abs=0.05)
    assert facts.loudness_lufs == pytest.approx(-9.0, abs=0.5)  # a 1 kHz sine at -6 dBFS peak reads about -9 LUFS
    assert facts.clipping_ratio == 0 and facts.silence_ratio == 0


def test_clipping_is_measured_before_downmix() -> None:
    clipped = np.clip(tone(4, 3.0), -1, 1)
    stereo = np.stack([clipped, np.zeros_like(clipped)], axis=1)  # downmixed, it would peak at 0.5
    facts = analyse(decoded(stereo))
    assert facts.channels == 2 and facts.clipping_ratio > 0.3
    quality = assess(facts)
    assert quality.verdict == "poor" and any("clipping" in warning for warning in quality.warnings)


@pytest.mark.parametrize(("noise", "verdict"), [(0.0005, "good"), (0.05, "fair"), (0.1, "poor")])
def test_snr_estimate_tracks_the_true_snr(noise: float, verdict: str) -> None:
    rng = np.random.default_rng(0)
    speechlike = tone(6, 0.3) * (np.arange(6 * RATE) % RATE < RATE // 2)  # half-second bursts and pauses
    facts = analyse(decoded(speechlike + rng.normal(0, noise, speechlike.shape).astype(np.float32)))
    true_snr = 10 * np.log10((0.3**2 / 2) / noise**2)  # sine power over noise power while speaking
    assert facts.snr_db == pytest.approx(true_snr, abs=1.5)
    assert assess(facts).verdict == verdict


def speechlike(seconds: float) -> np.ndarray:
    """A tone in 0.8 s bursts with short pauses: level varies as in speech, so the SNR
    estimate finds a (digital) noise floor."""
    return tone(seconds, 0.3) * ((np.arange(int(seconds * RATE)) % RATE) < 0.8 * RATE)


def test_short_long_and_silent_stretches_are_warned_about() -> None:
    short = assess(analyse(decoded(speechlike(2))))
    assert short.verdict == "fair" and "too short" in short.warnings[0]
    assert any("too short for the turbo model" in warning for warning in short.warnings)
    for_turbo_only = assess(analyse(decoded(speechlike(4.5))))
    assert for_turbo_only.verdict == "fair" and for_turbo_only.warnings == ["too short for the turbo model (4.5 s): it needs more than 5 s; original and multilingual take it"]
    gappy = np.concatenate([tone(2, 0.3), np.zeros(3 * RATE, dtype=np.float32), tone(2, 0.3)])
    facts = analyse(decoded(gappy))
    assert facts.longest_silence_seconds == pytest.approx(3.0, abs=0.05)
    assert facts.silence_ratio == pytest.approx(3 / 7, abs=0.02)
    assert any("silence of 3.0 s" in warning for warning in assess(facts).warnings)
    long = assess(analyse(decoded(speechlike(31))))
    assert long.verdict == "fair" and any("first 30 s" in warning for warning in long.warnings)
