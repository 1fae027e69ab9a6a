"""The stored schema of a voice: its JSON record, versioned.

The ETag covers everything a user can edit plus the audio's content hash, and not the usage
counters: a voice being used for TTS must not turn a client's pending metadata edit into a
412, while any real edit (or new audio) must.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from audio.facts import AudioFacts
from contract.languages import Language
from contract.parameters import CFGWeight, Exaggeration, SpeedFactor, Temperature
from voices.names import DESCRIPTION_MAX, DISPLAY_NAME_MAX, FolderPath, FreeText, Tags, VoiceName
from voices.quality import VoiceQuality

SCHEMA_VERSION = 2
USAGE_FIELDS = frozenset({"usage_count", "last_used_at"})


class VoiceDefaults(BaseModel):
    """Generation parameters used when a request names this voice and leaves them out."""

    model_config = ConfigDict(extra="forbid")

    exaggeration: Exaggeration | None = None
    cfg_weight: CFGWeight | None = None
    temperature: Temperature | None = None
    speed_factor: SpeedFactor | None = None
    language: Language | None = Field(None, description="ISO 639-1: what the multilingual model speaks with this voice when a request names no language.")


class VoiceMetadata(BaseModel):
    schema_version: Literal[2] = SCHEMA_VERSION
    name: VoiceName  # unique ignoring case; the spelling the user chose is kept
    display_name: FreeText | None = Field(None, max_length=DISPLAY_NAME_MAX)
    description: FreeText = Field("", max_length=DESCRIPTION_MAX)
    tags: Tags = []
    folder: FolderPath = ""
    defaults: VoiceDefaults = VoiceDefaults()
    audio: AudioFacts
    quality: VoiceQuality
    created_at: datetime
    updated_at: datetime
    usage_count: int = Field(0, ge=0)
    last_used_at: datetime | None = None
    content_hash: str  # sha256 of the normalised reference WAV: keys the conditioning cache
    original_filename: str | None = None
    original_key: str
    reference_key: str

    @property
    def etag(self) -> str:
        """Of what a client sees change: not the use counters, nor the storage keys (each
        write names its own objects, so a restored voice keeps its ETag)."""
        editable = self.model_dump_json(exclude={*USAGE_FIELDS, "original_key", "reference_key"})
        return '"' + hashlib.sha256(editable.encode()).hexdigest()[:32] + '"'

    @property
    def search_text(self) -> str:
        """What `search` looks in: name, display name, description and tags, case-folded."""
        return " ".join([self.name, self.display_name or "", self.description, *self.tags]).casefold()


class VoiceMetadataPatch(BaseModel):
    """A partial update: only the fields sent change. `defaults` merges key by key (send
    `null` for a key to clear that default); `name` renames (case-insensitively unique)."""

    model_config = ConfigDict(extra="forbid")

    name: VoiceName | None = None
    display_name: FreeText | None = Field(None, max_length=DISPLAY_NAME_MAX)
    description: FreeText | None = Field(None, max_length=DESCRIPTION_MAX)
    tags: Tags | None = None
    folder: FolderPath | None = None
    defaults: VoiceDefaults | None = None

    @field_validator("name", "description", "tags", "folder", "defaults")
    @classmethod
    def _not_null(cls, value: object) -> object:
        """Runs only for fields that were sent: these may change but never become null."""
        if value is None:
            raise ValueError("cannot be null; send a value (an empty string or list clears it)")
        return value

    @property
    def is_empty(self) -> bool:
        return not self.model_fields_set

    def apply(self, current: VoiceMetadata, now: datetime) -> VoiceMetadata:
        changes = self.model_dump(include=self.model_fields_set - {"defaults"})
        if self.defaults is not None:
            changes["defaults"] = current.defaults.model_dump() | self.defaults.model_dump(exclude_unset=True)
        return VoiceMetadata.model_validate(current.model_dump() | changes | {"updated_at": now})
