"""What a voice name, folder path and tag may be.

Names and folder segments become storage key parts, so the rules are strict enough that no
value can climb out of the library (no '..', no slashes in names, no absolute folders, no
control characters) and short enough to bound key length. The same checks back every API
model, so a name is validated identically whether it arrives in a path, a form or a JSON
body.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Annotated

from pydantic import AfterValidator

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
NAME_RULE = "1-64 characters: letters, digits, '_', '-', '.', starting with a letter or digit, no '..'"
FOLDER_MAX_DEPTH = 8
FOLDER_RULE = f"'/'-separated segments (at most {FOLDER_MAX_DEPTH}), each following the name rule ({NAME_RULE}); '' is the top level"
TAG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,31}$")
TAG_RULE = "1-32 characters: letters, digits, '_', '-', starting with a letter or digit"
MAX_TAGS = 32
DISPLAY_NAME_MAX = 128
DESCRIPTION_MAX = 2000
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.\-]+")


def is_voice_name(name: str) -> bool:
    return bool(NAME_PATTERN.match(name)) and ".." not in name


def check_voice_name(name: str) -> str:
    if not is_voice_name(name):
        raise ValueError(f"{name[:80]!r} is not a valid voice name: {NAME_RULE}")
    return name


def check_folder(folder: str) -> str:
    if folder == "":
        return folder
    segments = folder.split("/")
    if len(segments) > FOLDER_MAX_DEPTH or not all(is_voice_name(segment) for segment in segments):
        raise ValueError(f"{folder[:120]!r} is not a valid folder: {FOLDER_RULE}")
    return folder


def normalise_tags(tags: list[str]) -> list[str]:
    """Lower-cased, stripped, de-duplicated in order; tags match case-insensitively."""
    result: list[str] = []
    for raw in tags:
        tag = raw.strip().lower()
        if not TAG_PATTERN.match(tag):
            raise ValueError(f"tag {raw[:40]!r} is not valid: {TAG_RULE}")
        if tag not in result:
            result.append(tag)
    if len(result) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags per voice")
    return result


def check_text(text: str) -> str:
    """Free text (display names, descriptions) may hold newlines and tabs, never other control characters."""
    if _CONTROL.search(text):
        raise ValueError("must not contain control characters")
    return text


VoiceName = Annotated[str, AfterValidator(check_voice_name)]
FolderPath = Annotated[str, AfterValidator(check_folder)]
Tags = Annotated[list[str], AfterValidator(normalise_tags)]
FreeText = Annotated[str, AfterValidator(check_text)]


def name_from_filename(filename: str) -> str | None:
    """A valid voice name made from a file's name (`My Voice (take 2).wav` -> `My-Voice-take-2`)."""
    stem = PurePosixPath(filename).stem
    name = re.sub(r"\.{2,}", ".", _UNSAFE_NAME_CHARS.sub("-", stem)).strip("-._")[:64].rstrip("-._")
    return name if is_voice_name(name) else None
