"""The output formats the API speaks, with their file extensions and content types."""

from __future__ import annotations

from enum import Enum


class OutputFormat(str, Enum):
    wav = "wav"
    mp3 = "mp3"
    flac = "flac"
    opus = "opus"

    @property
    def extension(self) -> str:
        return "ogg" if self is OutputFormat.opus else self.value

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self]


CONTENT_TYPES = {
    OutputFormat.wav: "audio/wav",
    OutputFormat.mp3: "audio/mpeg",
    OutputFormat.flac: "audio/flac",
    OutputFormat.opus: "audio/ogg",
}

CONTENT_TYPE_BY_EXTENSION = {fmt.extension: fmt.content_type for fmt in OutputFormat}
