"""A consistency check of a store, with repairs only when asked.

What it looks for, in one listing plus a read of every voice record:
- a voice record that names audio which is not there (the voice cannot be used);
- a voice record that does not parse;
- voice audio that no record names (a write that lost a race or was interrupted);
- an output without its JSON companion, or a companion without its audio;
- an index snapshot left by a version that kept its indexes in storage (the database holds them now);
- temp files of interrupted local writes, unfinished S3 multipart uploads.

Objects younger than `min_age_seconds` are left out of the orphan and temp findings: a
write in progress has its audio in place a moment before its record. The tests and the
soak benchmark run it with 0 once traffic has stopped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ValidationError

from contract.voice_layout import VOICES_PREFIX, is_record_key
from db import Database
from outputs.records import OutputRecords
from outputs.store import OUTPUTS_PREFIX, OutputMetadata
from storage.base import ObjectInfo, ObjectNotFoundError, Storage
from voices.metadata import VoiceMetadata
from voices.records import VoiceRecords

logger = logging.getLogger(__name__)

OBSOLETE_OBJECTS = {  # written by releases before the database held what they hold
    "voice-index/snapshot.json.gz": "an index snapshot: the database holds the index now",
    "output-index/snapshot.json.gz": "an index snapshot: the database holds the index now",
    "leases/output-retention.json": "the retention lease: the database holds leases now",
}
FindingKind = Literal[
    "record_missing_audio", "unreadable_record", "orphan_voice_audio", "output_missing_companion",
    "companion_missing_audio", "obsolete_object", "temp_object",
]
REPAIRS: dict[FindingKind, str] = {
    "record_missing_audio": "delete the record and what is left of its audio (the voice is unusable; upload it again)",
    "unreadable_record": "delete the record",
    "orphan_voice_audio": "delete the object",
    "output_missing_companion": "delete the audio (no listing can find it)",
    "companion_missing_audio": "delete the companion",
    "obsolete_object": "delete it (nothing reads it any more)",
    "temp_object": "delete the temp file, or abort the multipart upload",
}


class Finding(BaseModel):
    kind: FindingKind
    key: str
    detail: str
    repair: str
    repaired: bool = False


class CheckReport(BaseModel):
    backend: str
    objects: int
    voice_records: int
    outputs: int
    findings: list[Finding]

    @property
    def clean(self) -> bool:
        return not self.findings


class _Check:
    def __init__(self, storage: Storage, database: Database | None, repair: bool, min_age_seconds: float) -> None:
        self.storage = storage
        self.database = database
        self.repair = repair
        self.settled_before = time.time() - min_age_seconds
        self.findings: list[Finding] = []

    def found(self, kind: FindingKind, key: str, detail: str, fix: Callable[[], None]) -> None:
        finding = Finding(kind=kind, key=key, detail=detail, repair=REPAIRS[kind])
        if self.repair:
            fix()
            finding.repaired = True
            logger.info("storage checker repaired %s at %s", kind, key)
        self.findings.append(finding)

    def settled(self, info: ObjectInfo) -> bool:
        return info.modified <= self.settled_before

    def voices(self, objects: dict[str, ObjectInfo]) -> int:
        records = [key for key in objects if is_record_key(key)]
        named: set[str] = set()
        for key in records:
            try:
                metadata = VoiceMetadata.model_validate_json(self.storage.get(key))
            except ObjectNotFoundError:
                continue  # deleted since the listing
            except (ValidationError, ValueError) as exc:
                self.found("unreadable_record", key, str(exc)[:200], lambda key=key: self.storage.delete(key))
                continue
            audio = (metadata.original_key, metadata.reference_key)
            named.update(audio)
            if missing := [k for k in audio if k not in objects and not self.storage.exists(k)]:
                self.found(
                    "record_missing_audio", key, f"voice {metadata.name!r} names missing {', '.join(missing)}",
                    lambda key=key, audio=audio, name=metadata.name: self._forget_voice(name, key, *audio),
                )
        for key, info in objects.items():
            if key.startswith(VOICES_PREFIX) and key not in named and self.settled(info):
                self.found("orphan_voice_audio", key, "no voice record names it", lambda key=key: self.storage.delete(key))
        return len(records)

    def outputs(self, objects: dict[str, ObjectInfo]) -> int:
        stems: dict[str, list[str]] = {}
        for key in objects:
            if key.startswith(OUTPUTS_PREFIX):
                stems.setdefault(key.rsplit(".", 1)[0], []).append(key)
        for keys in stems.values():
            companions = [k for k in keys if k.endswith(".json")]
            audio = [k for k in keys if not k.endswith(".json")]
            for key in audio:
                if not companions and self.settled(objects[key]):
                    self.found("output_missing_companion", key, "no JSON companion", lambda key=key: self.storage.delete(key))
            for key in companions:
                if not audio and self.settled(objects[key]):
                    self.found("companion_missing_audio", key, "its audio is gone", lambda key=key: self._forget_output(key))
        return sum(1 for keys in stems.values() for key in keys if key.endswith(".json"))

    def obsolete(self, objects: dict[str, ObjectInfo]) -> None:
        for key, what in OBSOLETE_OBJECTS.items():
            if key in objects:
                self.found("obsolete_object", key, what, lambda key=key: self.storage.delete(key))

    def temp_objects(self) -> None:
        for temp in self.storage.temp_objects():
            if temp.modified <= self.settled_before:
                self.found("temp_object", temp.key, "left by an interrupted write", lambda temp=temp: self.storage.remove_temp_object(temp))

    def _forget_voice(self, name: str, *keys: str) -> None:
        """The voice's row first (so no listing names it any more), then its objects."""
        if self.database is not None:
            with self.database.write() as connection:
                VoiceRecords().remove(connection, name)
        for key in keys:
            self.storage.delete(key)

    def _forget_output(self, companion: str) -> None:
        """The output's row (named in its companion) first, then the companion."""
        if self.database is not None:
            try:
                filename = OutputMetadata.model_validate_json(self.storage.get(companion)).filename
            except (ObjectNotFoundError, ValidationError):
                filename = None
            if filename is not None:
                with self.database.write() as connection:
                    OutputRecords().remove(connection, filename)
        self.storage.delete(companion)


def check_storage(storage: Storage, *, database: Database | None = None, repair: bool = False, min_age_seconds: float = 600.0) -> CheckReport:
    """Everything found (and, with `repair`, fixed) in `storage`; a repair that removes a
    voice's or an output's record removes its row from `database` too."""
    objects = {info.key: info for info in storage.list_objects("")}
    check = _Check(storage, database, repair, min_age_seconds)
    voice_records = check.voices(objects)
    outputs = check.outputs(objects)
    check.obsolete(objects)
    check.temp_objects()
    return CheckReport(backend=storage.backend, objects=len(objects), voice_records=voice_records, outputs=outputs, findings=check.findings)

