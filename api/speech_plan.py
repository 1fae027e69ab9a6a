"""A TTS request made ready to generate: its voice resolved and every parameter settled
(the request's value, else the voice's default, else the service's), with what the stored
output records about it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from api.errors import APIError
from api.protocol import SpeechParameters, TTSRequest
from api.voice_resolution import ResolvedVoice
from audio.speed import SpeedLibrary
from config import TTSSettings
from contract.families import FAMILIES, ModelName
from contract.parameters import DEFAULT_CFG_WEIGHT, DEFAULT_EXAGGERATION, DEFAULT_TEMPERATURE
from text.chunks import SpeechChunk, script_chunks
from text.script import PauseLimits, Script, ScriptError, parse_script
from voices.metadata import VoiceDefaults


@dataclass(frozen=True)
class SpeechPlan:
    body: TTSRequest
    model: ModelName
    script: Script
    voice: ResolvedVoice
    resolved: dict[str, Any]  # exaggeration, cfg_weight, temperature, seed, language
    speed: float
    library: SpeedLibrary
    voice_name: str | None  # None: the built-in voice
    model_source: str
    parameters: dict[str, Any]  # for the output's metadata
    summary: dict[str, Any]  # for the output's file name

    @property
    def headers(self) -> dict[str, str]:
        removed = {"X-Tags-Removed": ",".join(self.script.tags_removed)} if self.script.tags_removed else {}
        return {"X-Voice-Resolved": self.voice.label, "X-Voice-Source": self.voice.source} | removed

    def chunks(self, configured: TTSSettings, first_chars: int | None = None) -> list[SpeechChunk]:
        """The text's chunks in its language, each with the pause before it."""
        return script_chunks(self.script, self.resolved["language"], configured.max_chunk_chars, first_chars)

    def chunk_parameters(self, index: int) -> dict[str, Any]:
        """A chunk job's parameters (those the model uses); chunk `index` is seeded from the
        request's seed: same seed, same audio."""
        used = {key: value for key, value in self.resolved.items() if value is not None}
        return used | {"seed": (self.resolved["seed"] + index) % 2**32}


def first_given(*values: float | None) -> float:
    """The request's value, else the voice's default, else the service default."""
    return next(value for value in values if value is not None)


def check_model_parameters(body: SpeechParameters, model: ModelName) -> None:
    """400 for what `model` cannot do, rather than dropping it silently: a language it does not
    speak, or guidance parameters a model without guidance would ignore."""
    family = FAMILIES[model]
    if body.language is not None and body.language not in family.languages:
        speaks = ", ".join(family.languages)
        hint = "" if model == "multilingual" else "; model=multilingual speaks 23 languages"
        raise APIError(400, f"language {body.language!r} is not one the {model} model speaks ({speaks}){hint}", field="language")
    if not family.guidance:
        for field in ("exaggeration", "cfg_weight"):
            if getattr(body, field) is not None:
                raise APIError(400, f"{field}: the {model} model has no classifier-free guidance or exaggeration and would ignore it; omit it, or use model=original or multilingual", field=field)


def speech_script(text: str, tags: list[str] | None, configured: TTSSettings, field: str) -> Script:
    """The text's words, pauses and tags, checked (400 naming `field`, the text as the route
    calls it). `tags`: those the model performs, None for a model without tags."""
    try:
        return parse_script(text, tags, PauseLimits(max_pause_seconds=configured.max_pause_seconds, max_total_pause_seconds=configured.max_total_pause_seconds))
    except ScriptError as exc:
        raise APIError(400, f"{field}: {exc}", field=field) from None


def voice_language(defaults: VoiceDefaults, model: ModelName) -> str:
    """The voice's default language when the model speaks it, else English: a voice set up
    for French still speaks with the English-only models."""
    return defaults.language if defaults.language in FAMILIES[model].languages else "en"


def plan_speech(
    configured: TTSSettings, body: TTSRequest, model: ModelName, script: Script, voice: ResolvedVoice, model_source: str, extra_parameters: dict[str, Any]
) -> SpeechPlan:
    """Call `check_model_parameters` and `speech_script` first. A model without guidance ignores the voice's
    exaggeration and cfg_weight defaults (they were tuned for the models that use them)."""
    defaults = voice.metadata.defaults if voice.metadata is not None else VoiceDefaults()
    guided = FAMILIES[model].guidance
    resolved = {
        "exaggeration": first_given(body.exaggeration, defaults.exaggeration, DEFAULT_EXAGGERATION) if guided else None,
        "cfg_weight": first_given(body.cfg_weight, defaults.cfg_weight, DEFAULT_CFG_WEIGHT) if guided else None,
        "temperature": first_given(body.temperature, defaults.temperature, DEFAULT_TEMPERATURE),
        "seed": body.seed if body.seed is not None else secrets.randbelow(2**32),
        "language": body.language or voice_language(defaults, model),
    }
    speed = first_given(body.speed_factor, defaults.speed_factor, configured.speed_factor)
    library = body.speed_factor_library or configured.speed_factor_library
    voice_name = voice.label if voice.reference is not None else None
    parameters = body.model_dump(mode="json") | resolved | extra_parameters | {
        "model": model, "voice": voice_name, "voice_source": voice.source, "speed_factor": speed, "speed_factor_library": library,
    } | ({"tags_removed": list(script.tags_removed)} if script.tags_removed else {})
    summary = {
        "voice": voice_name or "default", "exag": resolved["exaggeration"], "cfg": resolved["cfg_weight"], "speed": speed if speed != 1.0 else None,
        "model": model, "lang": resolved["language"] if resolved["language"] != "en" else None,
    }
    return SpeechPlan(body, model, script, voice, resolved, speed, library, voice_name, model_source, parameters, summary)
