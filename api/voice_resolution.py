"""Which voice an OpenAI `voice` names.

OpenAI clients send names such as `alloy` or `nova`, or whatever a user typed; a drop-in
server must turn each into a voice, predictably. The steps run in the configured order
(`openai.voice_resolution`): the voice library by exact name, the configured aliases, a
folder of predefined voice files, the name with an audio extension added or removed, the
default voice for OpenAI's own voice names (what a client such as Pipecat, which sends no
other names, reaches), and last the fallback (a configured library voice, else the model's
built-in one). What was
chosen is reported with the audio, so a silent fallback is never a mystery.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Literal

from starlette.concurrency import run_in_threadpool

from api.errors import APIError
from api.openai_protocol import OPENAI_VOICE_NAMES, VoiceEntry, VoiceListing
from api.runner_voices import RunnerVoice
from api.uploads import decode_upload
from api.voice_serving import VoiceServing
from config import LimitSettings, OpenAISettings
from contract.formats import INPUT_EXTENSIONS
from contract.runner_jobs import VoiceReference, unstored_reference
from contract.voice_layout import REFERENCE_SAMPLE_RATE
from voices.metadata import VoiceMetadata
from voices.names import is_voice_name
from voices.predefined import PredefinedVoiceFolder
from voices.query import VoiceFilter

logger = logging.getLogger(__name__)

VoiceSource = Literal["library", "alias", "predefined", "extension", "default", "fallback"]


@dataclass(frozen=True)
class ResolvedVoice:
    """`label` names the voice in headers and output metadata: a library voice's name,
    `predefined/<file>`, or `builtin`. No reference means the model's built-in voice."""

    label: str
    source: VoiceSource | Literal["builtin"]
    metadata: VoiceMetadata | None = None
    reference: RunnerVoice | None = None

    def via(self, source: VoiceSource) -> ResolvedVoice:
        return ResolvedVoice(self.label, source, self.metadata, self.reference)


BUILTIN_VOICE = ResolvedVoice("builtin", "builtin")


@lru_cache(maxsize=64)
def _predefined_reference(path: str, modified_ns: int, size: int, min_seconds: float, max_seconds: float) -> VoiceReference:
    """Decoded once per file version (path, mtime and size key the cache)."""
    upload = decode_upload(Path(path).read_bytes(), path, "voice", sample_rate=REFERENCE_SAMPLE_RATE, min_seconds=min_seconds, max_seconds=max_seconds)
    return unstored_reference(upload.audio.samples)


class PredefinedVoices:
    """The predefined-voices folder (`voices.predefined`) as OpenAI voices: lookups in the
    thread pool, each file decoded once per version."""

    def __init__(self, folder: Path | None, limits: LimitSettings) -> None:
        self.folder = PredefinedVoiceFolder(folder)
        self.limits = limits

    def files(self) -> dict[str, Path]:
        return self.folder.files()

    async def find(self, name: str) -> tuple[str, Path] | None:
        """The file named exactly `name` (ignoring case)."""
        wanted = name.lower()
        return await run_in_threadpool(self.folder.first, lambda relative: relative == wanted)

    async def find_stem(self, name: str) -> tuple[str, Path] | None:
        """The file named `name` plus any audio extension (`alex` finds `alex.wav`)."""
        wanted = name.lower()
        return await run_in_threadpool(self.folder.first, lambda relative: relative.rsplit(".", 1)[0] == wanted)

    async def find_either(self, name: str) -> tuple[str, Path] | None:
        """The file named `name` exactly, else with any audio extension added."""
        return await self.find(name) or await self.find_stem(name)

    async def resolve(self, found: tuple[str, Path]) -> ResolvedVoice:
        relative, path = found
        stat = path.stat()
        try:
            reference = await run_in_threadpool(
                _predefined_reference, str(path), stat.st_mtime_ns, stat.st_size, self.limits.voice_min_seconds, self.limits.voice_max_seconds
            )
        except APIError as exc:
            logger.error("predefined voice file unusable", extra={"file": relative, "error": exc.message})
            raise APIError(500, f"the predefined voice file {relative!r} cannot be used: {exc.message}", field="voice", error_type="voice_unavailable") from None
        return ResolvedVoice(f"predefined/{relative}", "predefined", None, RunnerVoice.in_memory(reference))


class VoiceResolver:
    def __init__(self, settings: OpenAISettings, voices: VoiceServing, predefined: PredefinedVoices) -> None:
        self.settings = settings
        self.voices = voices
        self.predefined = predefined
        self.aliases = {alias.lower(): target for alias, target in settings.voice_aliases.items()}

    async def resolve(self, requested: str, has_builtin_voice: bool) -> ResolvedVoice:
        for step in self.settings.voice_resolution:
            found = await self._step(step, requested, has_builtin_voice)
            if found is not None:
                return found
        raise APIError(
            400, f"voice {requested!r} was not found (looked in: {', '.join(self.settings.voice_resolution)}); GET /v1/audio/voices lists the voices",
            field="voice", error_type="voice_not_found",
        )

    async def _step(self, step: VoiceSource, requested: str, has_builtin_voice: bool) -> ResolvedVoice | None:
        if step == "library":
            return await self._library(requested)
        if step == "alias":
            return await self._alias(requested)
        if step == "predefined":
            found = await self.predefined.find(requested)
            return await self.predefined.resolve(found) if found else None
        if step == "extension":
            return await self._extension(requested)
        if step == "default":
            return await self._default() if requested.lower() in OPENAI_VOICE_NAMES else None
        return await self._fallback(has_builtin_voice)

    async def _library(self, name: str) -> ResolvedVoice | None:
        if not is_voice_name(name) or not await run_in_threadpool(self.voices.library.exists, name):
            return None
        metadata, reference = await self.voices.runner_voice(name, "voice")
        return ResolvedVoice(metadata.name, "library", metadata, reference)

    async def _alias(self, name: str) -> ResolvedVoice | None:
        target = self.aliases.get(name.lower())
        if target is None:
            return None
        found = await self._library(target)
        if found is None:
            logger.warning("voice alias points to no library voice", extra={"alias": name, "target": target})
        return found.via("alias") if found else None

    async def _extension(self, name: str) -> ResolvedVoice | None:
        stem, dot, extension = name.rpartition(".")
        if dot and extension.lower() in INPUT_EXTENSIONS:
            found = await self._library(stem)
            if found is not None:
                return found.via("extension")
        predefined = await self.predefined.find_stem(name)
        return (await self.predefined.resolve(predefined)).via("extension") if predefined else None

    async def _default(self) -> ResolvedVoice | None:
        """`openai.default_voice`: a library voice, else a predefined file (with or without
        its extension); None when unset or missing (logged)."""
        name = self.settings.default_voice
        if name is None:
            return None
        found = await self._library(name)
        if found is None:
            predefined = await self.predefined.find_either(name)
            found = await self.predefined.resolve(predefined) if predefined else None
        if found is None:
            logger.warning("the default voice is neither a library voice nor a predefined file", extra={"voice": name})
        return found.via("default") if found else None

    async def _fallback(self, has_builtin_voice: bool) -> ResolvedVoice | None:
        if self.settings.fallback_voice is not None:
            found = await self._library(self.settings.fallback_voice)
            if found is None:
                logger.warning("the fallback voice is not in the library", extra={"voice": self.settings.fallback_voice})
            return found.via("fallback") if found else None
        return BUILTIN_VOICE.via("fallback") if has_builtin_voice else None

    async def listing(self, has_builtin_voice: bool) -> VoiceListing:
        """Every name that resolves by itself: library voices, aliases, predefined files."""
        library: list[VoiceMetadata] = await run_in_threadpool(lambda: sorted(self.voices.library.select(VoiceFilter()), key=lambda v: v.name.lower()))
        names = {voice.name.lower() for voice in library}
        entries = [VoiceEntry(id=voice.name, name=voice.display_name or voice.name, source="library") for voice in library]
        entries += [
            VoiceEntry(id=alias, name=alias, source="alias", resolves_to=target)
            for alias, target in sorted(self.settings.voice_aliases.items())
            if target.lower() in names
        ]
        entries += [VoiceEntry(id=str(PurePosixPath(relative).with_suffix("")), name=relative, source="predefined") for relative in await run_in_threadpool(self.predefined.files)]
        default = await self._default_label(library)
        if default is not None:
            listed = {entry.id.lower() for entry in entries}
            entries += [VoiceEntry(id=name, name=name, source="default", resolves_to=default) for name in OPENAI_VOICE_NAMES if name not in listed]
        return VoiceListing(data=entries, fallback=self._fallback_label(names, has_builtin_voice))

    async def _default_label(self, library: list[VoiceMetadata]) -> str | None:
        """What OpenAI's voice names speak with, as resolving names it (None: the step is off
        or the default voice is missing), without loading its audio."""
        name = self.settings.default_voice
        if name is None or "default" not in self.settings.voice_resolution:
            return None
        if (voice := next((v for v in library if v.name.lower() == name.lower()), None)) is not None:
            return voice.name
        predefined = await self.predefined.find_either(name)
        return f"predefined/{predefined[0]}" if predefined else None

    def _fallback_label(self, library_names: set[str], has_builtin_voice: bool) -> str | None:
        if "fallback" not in self.settings.voice_resolution:
            return None
        if self.settings.fallback_voice is not None:
            return self.settings.fallback_voice if self.settings.fallback_voice.lower() in library_names else None
        return BUILTIN_VOICE.label if has_builtin_voice else None
