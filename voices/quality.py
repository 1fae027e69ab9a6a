"""Is a recording a good voice-cloning reference? A verdict and warnings a person can act on.

Chatterbox conditions on the first seconds of the reference (about 6 s for T3 and 10 s for
S3Gen), so a few seconds of clean, steady speech matter more than length. References that
cannot work at all (under a second, silent, undecodable) are rejected before this point;
everything else is stored with its verdict, so the user decides.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from audio.facts import AudioFacts
from contract.families import FAMILIES
from contract.voice_layout import CONDITIONING_SECONDS

SHORT_SECONDS = 3.0
CLIPPING_WARN, CLIPPING_POOR = 0.001, 0.01
SNR_WARN_DB, SNR_POOR_DB = 20.0, 10.0
SILENCE_RATIO_WARN = 0.5
LONG_SILENCE_SECONDS = 2.0
QUIET_LUFS = -40.0

Verdict = Literal["good", "fair", "poor"]


class VoiceQuality(BaseModel):
    verdict: Verdict
    warnings: list[str]


def short_for_families(seconds: float) -> list[str]:
    """A warning per model family that refuses a reference this short (Turbo: 5 s or less)."""
    warnings = []
    for family in FAMILIES.values():
        if seconds <= family.min_reference_seconds:
            others = " and ".join(name for name, other in FAMILIES.items() if seconds > other.min_reference_seconds)
            warnings.append(f"too short for the {family.name} model ({seconds:.1f} s): it needs more than {family.min_reference_seconds:g} s; {others} take it")
    return warnings


def assess(facts: AudioFacts) -> VoiceQuality:
    warnings: list[str] = []
    poor = False
    if facts.duration_seconds < SHORT_SECONDS:
        warnings.append(f"too short ({facts.duration_seconds:.1f} s): 3-30 s of clean speech clones best")
    warnings += short_for_families(facts.duration_seconds)
    if facts.duration_seconds > CONDITIONING_SECONDS:
        warnings.append(f"long ({facts.duration_seconds:.0f} s): only the first {CONDITIONING_SECONDS:.0f} s are used for conditioning")
    if facts.clipping_ratio > CLIPPING_WARN:
        poor |= facts.clipping_ratio > CLIPPING_POOR
        warnings.append(f"clipping: {facts.clipping_ratio:.2%} of samples at full scale; record with less gain")
    if facts.snr_db < SNR_WARN_DB:
        poor |= facts.snr_db < SNR_POOR_DB
        warnings.append(f"noisy: estimated SNR {facts.snr_db:.0f} dB; record in a quieter room or denoise")
    if facts.silence_ratio > SILENCE_RATIO_WARN:
        warnings.append(f"mostly silence ({facts.silence_ratio:.0%}); trim the pauses")
    if facts.longest_silence_seconds > LONG_SILENCE_SECONDS:
        warnings.append(f"a silence of {facts.longest_silence_seconds:.1f} s; trim long pauses")
    if facts.loudness_lufs is not None and facts.loudness_lufs < QUIET_LUFS:
        warnings.append(f"very quiet ({facts.loudness_lufs:.0f} LUFS); normalise the recording")
    verdict: Verdict = "poor" if poor else ("fair" if warnings else "good")
    return VoiceQuality(verdict=verdict, warnings=warnings)
