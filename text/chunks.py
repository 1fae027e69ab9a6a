"""Splitting long text into chunks Chatterbox can say in one go.

T3 stops after `max_new_tokens` speech tokens (1000, about 40 s), so a long text is cut at
sentence ends (`text/sentences.py`, in the request's language) into chunks of at most
`max_chars`; a sentence longer than that is cut at its last comma, semicolon or colon
(Western or CJK), then at its last space, before the limit. Sentences are joined with the
whitespace that followed them in the text, so Chinese and Japanese chunks get no spaces.
"""

from __future__ import annotations

from dataclasses import dataclass

from text.script import Script
from text.sentences import split_sentences

_SOFT_BREAKS = (", ", "; ", ": ", " - ", "，", "、", "；", "：", " ")


@dataclass(frozen=True)
class SpeechChunk:
    """One model call's text, and the seconds of silence (from `[pause:...]`) before it;
    chunks with no pause between them are crossfaded."""

    text: str
    pause_before: float = 0.0


def _split_long_sentence(sentence: str, max_chars: int) -> list[str]:
    pieces: list[str] = []
    rest = sentence
    while len(rest) > max_chars:
        window = rest[: max_chars + 1]
        cut = max((window.rfind(mark) + len(mark.rstrip()) for mark in _SOFT_BREAKS if window.rfind(mark) > 0), default=-1)
        if cut <= 0:
            cut = max_chars  # one unbroken word longer than a chunk: cut it hard
        pieces.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    if rest:
        pieces.append(rest)
    return pieces


def _sentences(text: str, language: str, max_chars: int) -> list[str]:
    """Sentences of at most `max_chars` (stripped, except for the whitespace that follows)."""
    sentences: list[str] = []
    for sentence in split_sentences(" ".join(text.split()), language):
        spacing = sentence[len(sentence.rstrip()) :]
        pieces = _split_long_sentence(sentence.strip(), max_chars)
        sentences += [f"{piece} " for piece in pieces[:-1]] + [pieces[-1] + spacing]
    return sentences


def _pack(sentences: list[str], max_chars: int) -> list[str]:
    """Greedily pack whole sentences into chunks of at most `max_chars` characters."""
    chunks: list[str] = []
    for sentence in sentences:
        if chunks and len((chunks[-1] + sentence).strip()) <= max_chars:
            chunks[-1] += sentence
        else:
            chunks.append(sentence)
    return [chunk.strip() for chunk in chunks]


def split_into_chunks(text: str, max_chars: int, language: str = "en", first_chars: int | None = None) -> list[str]:
    """`first_chars`: a smaller first chunk, for speech streamed while it is generated (its
    generation time is the listener's wait); the others stay up to `max_chars` (fewer seams).
    Each chunk is one that `split_into_chunks(chunk, max_chars)` leaves whole."""
    if first_chars is None or first_chars >= max_chars:
        return _pack(_sentences(text, language, max_chars), max_chars)
    sentences = _sentences(text, language, first_chars)
    if not sentences:
        return []
    first, taken = sentences[0], 1
    while taken < len(sentences) and len((first + sentences[taken]).strip()) <= first_chars:
        first, taken = first + sentences[taken], taken + 1
    rest = "".join(sentences[taken:])
    return [first.strip(), *_pack(_sentences(rest, language, max_chars), max_chars)]


def script_chunks(script: Script, language: str, max_chars: int, first_chars: int | None = None) -> list[SpeechChunk]:
    """A script's chunks, each segment's first carrying the pause before it (only the
    script's first segment gets the smaller first chunk: audio starts there)."""
    chunks: list[SpeechChunk] = []
    for index, segment in enumerate(script.segments):
        texts = split_into_chunks(segment.text, max_chars, language, first_chars if index == 0 else None)
        chunks += [SpeechChunk(text, segment.pause_before if number == 0 else 0.0) for number, text in enumerate(texts)]
    return chunks
