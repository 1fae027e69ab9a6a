"""Where a voice lives in storage, and what of it conditioning reads: the layout the voice
library writes, the runners read references from, and the storage checker inspects.

Audio lives under ``voices/<casefolded name>/`` and the record at
``voice-records/<casefolded name>.json``, so names are unique regardless of case while the
record keeps the spelling the user chose, and listing every record pages through one object
per voice, not three. Audio files are named by content and by a token of their writer.
"""

from __future__ import annotations

import secrets

VOICES_PREFIX = "voices/"
RECORDS_PREFIX = "voice-records/"
REFERENCE_SAMPLE_RATE = 24_000
CONDITIONING_SECONDS = 30.0  # longer references are trimmed to this for conditioning


def folder_key(name: str) -> str:
    return f"{VOICES_PREFIX}{name.casefold()}/"


def record_key(name: str) -> str:
    return f"{RECORDS_PREFIX}{name.casefold()}.json"


def is_record_key(key: str) -> bool:
    return key.startswith(RECORDS_PREFIX) and key.endswith(".json") and key.count("/") == 1


def name_of_record_key(key: str) -> str:
    """The casefolded voice name a record key belongs to."""
    return key[len(RECORDS_PREFIX) : -len(".json")]


def is_reference_key(key: str) -> bool:
    """A key `audio_keys` makes for a voice's 24 kHz reference (what runners may read)."""
    folder, _, file = key[len(VOICES_PREFIX) :].rpartition("/")
    return key.startswith(VOICES_PREFIX) and bool(folder) and "/" not in folder and ".." not in key and file.startswith("reference-") and file.endswith(".wav")


def audio_keys(name: str, content_hash: str, original_extension: str) -> tuple[str, str]:
    """(original, reference) keys for one write: named by content and by a token of this
    writer, so a new upload never overwrites the files the current record points to, and
    two writers of the same file never share (and so never delete) each other's objects."""
    folder = folder_key(name)
    stem = f"{content_hash[:16]}-{secrets.token_hex(4)}"
    return f"{folder}original-{stem}.{original_extension}", f"{folder}reference-{stem}.wav"
