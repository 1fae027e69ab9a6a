"""The audio formats the API speaks: the file extensions it takes as input (what
`audio.decoding` decodes), and the output formats with their file extensions and content
types (how each is written is `audio.encoding`'s business)."""

from __future__ import annotations

from enum import Enum

# uploaded voices, bulk uploads, predefined voice files: what audio.decoding's allow-lists decode
INPUT_EXTENSIONS = frozenset({"wav", "mp3", "flac", "ogg", "opus", "m4a", "aac", "webm", "mp4"})


class OutputFormat(str, Enum):
    wav = "wav"
    mp3 = "mp3"
    opus = "opus"  # in an Ogg container
    aac = "aac"  # ADTS stream: plays in browsers and players, streams without an index
    flac = "flac"
    pcm = "pcm"  # raw 16-bit little-endian mono, no header (the sample rate is in the metadata)

    @property
    def extension(self) -> str:
        return "ogg" if self is OutputFormat.opus else self.value

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self]

    @property
    def has_bitrate(self) -> bool:
        return self in LOSSY_FORMATS


CONTENT_TYPES = {
    OutputFormat.wav: "audio/wav",
    OutputFormat.mp3: "audio/mpeg",
    OutputFormat.opus: "audio/ogg",
    OutputFormat.aac: "audio/aac",
    OutputFormat.flac: "audio/flac",
    OutputFormat.pcm: "audio/pcm",
}

# the lossy formats, which take a bitrate
LOSSY_FORMATS = frozenset({OutputFormat.mp3, OutputFormat.opus, OutputFormat.aac})

# The rates every format can carry; Opus resamples to 48 kHz inside the codec whatever it gets.
SAMPLE_RATES = (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000)



def check_sample_rate(rate: int | None) -> int | None:
    """For validators: None (use the default) or one of SAMPLE_RATES."""
    if rate is not None and rate not in SAMPLE_RATES:
        raise ValueError(f"must be one of {', '.join(map(str, SAMPLE_RATES))}")
    return rate


CONTENT_TYPE_BY_EXTENSION = {fmt.extension: fmt.content_type for fmt in OutputFormat}
