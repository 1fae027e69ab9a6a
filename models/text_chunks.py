"""Splitting long text into chunks Chatterbox can say in one go.

T3 stops after `max_new_tokens` speech tokens (1000, about 40 s), so a long text is cut at
sentence ends into chunks of at most `max_chars`; a sentence longer than that is cut at its
last comma/semicolon, then at its last space, before the limit.
"""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"')\]]*\s+")
_SOFT_BREAKS = (", ", "; ", ": ", " - ", " ")


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


def _sentences(text: str, max_chars: int) -> list[str]:
    sentences: list[str] = []
    for sentence in _SENTENCE_END.split(" ".join(text.split())):
        if sentence:
            sentences.extend(_split_long_sentence(sentence, max_chars))
    return sentences


def _pack(sentences: list[str], max_chars: int) -> list[str]:
    """Greedily pack whole sentences into chunks of at most `max_chars` characters."""
    chunks: list[str] = []
    for sentence in sentences:
        if chunks and len(chunks[-1]) + 1 + len(sentence) <= max_chars:
            chunks[-1] = f"{chunks[-1]} {sentence}"
        else:
            chunks.append(sentence)
    return chunks


def split_into_chunks(text: str, max_chars: int) -> list[str]:
    return _pack(_sentences(text, max_chars), max_chars)


def split_for_streaming(text: str, first_chars: int, max_chars: int) -> list[str]:
    """Chunks for speech streamed while it is generated: the first is at most `first_chars`
    (its generation time is the listener's wait), the others up to `max_chars` (fewer
    seams). Each chunk is one that `split_into_chunks(chunk, max_chars)` leaves whole."""
    first_chars = min(first_chars, max_chars)
    sentences = _sentences(text, first_chars)
    if not sentences:
        return []
    first, taken = sentences[0], 1
    while taken < len(sentences) and len(first) + 1 + len(sentences[taken]) <= first_chars:
        first, taken = f"{first} {sentences[taken]}", taken + 1
    rest = " ".join(sentences[taken:])
    return [first, *split_into_chunks(rest, max_chars)] if rest else [first]
