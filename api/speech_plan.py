"""A TTS request made ready to generate: its voice resolved and every parameter settled
(the request's value, else the voice's default, else the service's), with what the stored
output records about it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from api.protocol import TTSRequest
from api.voice_resolution import ResolvedVoice
from audio.speed import SpeedLibrary
from config import TTSSettings
from models.parameters import DEFAULT_CFG_WEIGHT, DEFAULT_EXAGGERATION, DEFAULT_TEMPERATURE
from voices.metadata import VoiceDefaults


@dataclass(frozen=True)
class SpeechPlan:
    body: TTSRequest
    voice: ResolvedVoice
    resolved: dict[str, Any]  # exaggeration, cfg_weight, temperature, seed
    speed: float
    library: SpeedLibrary
    voice_name: str | None  # None: the built-in voice
    model_source: str
    parameters: dict[str, Any]  # for the output's metadata
    summary: dict[str, Any]  # for the output's file name

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Voice-Resolved": self.voice.label, "X-Voice-Source": self.voice.source}

    def chunk_parameters(self, index: int) -> dict[str, Any]:
        """Chunk `index` is seeded from the request's seed: same seed, same audio."""
        return self.resolved | {"seed": (self.resolved["seed"] + index) % 2**32}


def first_given(*values: float | None) -> float:
    """The request's value, else the voice's default, else the service default."""
    return next(value for value in values if value is not None)


def plan_speech(configured: TTSSettings, body: TTSRequest, voice: ResolvedVoice, model_source: str, extra_parameters: dict[str, Any]) -> SpeechPlan:
    defaults = voice.metadata.defaults if voice.metadata is not None else VoiceDefaults()
    resolved = {
        "exaggeration": first_given(body.exaggeration, defaults.exaggeration, DEFAULT_EXAGGERATION),
        "cfg_weight": first_given(body.cfg_weight, defaults.cfg_weight, DEFAULT_CFG_WEIGHT),
        "temperature": first_given(body.temperature, defaults.temperature, DEFAULT_TEMPERATURE),
        "seed": body.seed if body.seed is not None else secrets.randbelow(2**32),
    }
    speed = first_given(body.speed_factor, defaults.speed_factor, configured.speed_factor)
    library = body.speed_factor_library or configured.speed_factor_library
    voice_name = voice.label if voice.reference is not None else None
    parameters = body.model_dump(mode="json") | resolved | extra_parameters | {
        "voice": voice_name, "voice_source": voice.source, "speed_factor": speed, "speed_factor_library": library,
    }
    summary = {"voice": voice_name or "default", "exag": resolved["exaggeration"], "cfg": resolved["cfg_weight"], "speed": speed if speed != 1.0 else None}
    return SpeechPlan(body, voice, resolved, speed, library, voice_name, model_source, parameters, summary)
