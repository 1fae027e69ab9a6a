"""What a request's text asks for besides words: inline pauses, for every model, and
paralinguistic tags, which only Turbo performs.

- `[pause:750ms]`, `[pause:1.5s]`: that much silence at that point (the text either side is
  generated separately and the silence put between, instead of the crossfade). Each pause is
  at most `tts.max_pause_seconds`, all of a text's pauses together at most
  `tts.max_total_pause_seconds` (silence costs memory like speech does).
- Tags (`[laugh]`, `[sigh]`, `[clear throat]`, ...): the turbo model performs the tags its
  tokenizer has; any other tag is refused (it would be read out as words). The models
  without tags remove the known tags (stage directions, not words) and say which they
  removed; other bracketed text is left to be spoken.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from pydantic import BaseModel

# The tags Resemble AI documents for Turbo (its tokenizer's added tokens): what the models
# without tags remove. The turbo runner reports its own tokenizer's list, which wins for it.
DOCUMENTED_TAGS = ("[clear throat]", "[sigh]", "[shush]", "[cough]", "[groan]", "[sniff]", "[gasp]", "[chuckle]", "[laugh]")

_PAUSE = re.compile(r"\[\s*pause\s*:([^\]]*)\]", re.IGNORECASE)
_PAUSE_LENGTH = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s)\s*", re.IGNORECASE)
_TAG = re.compile(r"(\s*)(\[[a-z][a-z _-]*\])", re.IGNORECASE)  # with the space before it


class ScriptError(ValueError):
    """The text breaks one of these rules; the message says which and how to fix it."""


class PauseLimits(BaseModel):
    max_pause_seconds: float
    max_total_pause_seconds: float


@dataclass(frozen=True)
class Segment:
    """Text spoken in one stretch, after `pause_before` seconds of silence."""

    text: str
    pause_before: float = 0.0


@dataclass(frozen=True)
class Script:
    segments: list[Segment]
    trailing_pause: float = 0.0  # silence after the last words
    tags_removed: tuple[str, ...] = ()  # tags a model without tags took out of the text


def _pause_seconds(written: str, limits: PauseLimits) -> float:
    match = _PAUSE_LENGTH.fullmatch(written)
    if match is None:
        raise ScriptError(f"[pause:{written}] is not a pause length: write it in ms or s, e.g. [pause:750ms] or [pause:1.5s]")
    seconds = float(match[1]) / (1000 if match[2].lower() == "ms" else 1)
    if not 0 < seconds <= limits.max_pause_seconds:
        raise ScriptError(f"[pause:{written}] is out of range: a pause is more than 0 and at most {limits.max_pause_seconds:g} s")
    return seconds


def _without_tags(text: str, tags: Collection[str] | None, removed: list[str]) -> str:
    """`tags`: those the model performs (kept; any other tag is an error); None: the model
    performs none, and the documented ones are taken out (into `removed`)."""
    if tags is not None:
        performed = {tag.lower() for tag in tags}
        unknown = sorted({match[2] for match in _TAG.finditer(text) if match[2].lower() not in performed})
        if unknown:
            raise ScriptError(
                f"unknown tag {', '.join(unknown)}: the turbo model performs {', '.join(sorted(tags))}; "
                "write other bracketed words in parentheses to have them read out"
            )
        return text

    def remove(match: re.Match[str]) -> str:
        """Out with the space before it ("Fine [sigh]." -> "Fine."), or for a space when
        there was none ("Hi[laugh]there" -> "Hi there")."""
        if match[2].lower() not in DOCUMENTED_TAGS:
            return match[0]
        removed.append(match[2])
        return "" if match[1] else " "

    return _TAG.sub(remove, text)


def parse_script(text: str, tags: Collection[str] | None, limits: PauseLimits) -> Script:
    """`text` as segments of speech with the pauses between them. `tags`: the tags the model
    performs, or None for a model without tags. Raises ScriptError."""
    segments: list[Segment] = []
    removed: list[str] = []
    pending = 0.0  # silence waiting for the next words
    total = 0.0
    position = 0
    for match in [*_PAUSE.finditer(text), None]:
        words = " ".join(_without_tags(text[position : match.start() if match else len(text)], tags, removed).split())
        if words:
            segments.append(Segment(words, pending))
            pending = 0.0
        if match is not None:
            seconds = _pause_seconds(match[1], limits)
            pending, total, position = pending + seconds, total + seconds, match.end()
    if total > limits.max_total_pause_seconds:
        raise ScriptError(f"the text's pauses add up to {total:g} s: at most {limits.max_total_pause_seconds:g} s in one request")
    if not segments:
        raise ScriptError("the text has no words to speak once its pauses and tags are taken out")
    return Script(segments, pending, tuple(removed))
