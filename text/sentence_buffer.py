"""Sentences out of text that arrives in pieces (an LLM's tokens), as soon as each one ends.

A sentence has ended when the splitter (`text/sentences.py`, in the text's language) puts a
boundary after it and text follows: "Dr. " waits for the next word, which tells whether it
was an abbreviation, and a piece cut inside a word is simply kept until the rest arrives. The
last sentence is spoken on `flush` (or at the end). A run of text with no sentence end that
grows past `max_chars` is cut at its last comma or space, as a long sentence of a whole
request is, so audio never waits on a writer who forgets full stops.
"""

from __future__ import annotations

from text.chunks import split_into_chunks
from text.sentences import split_sentences


class SentenceBuffer:
    def __init__(self, language: str, max_chars: int) -> None:
        self.language = language
        self.max_chars = max_chars
        self.text = ""

    def add(self, piece: str) -> list[str]:
        """Takes `piece`; returns the sentences it completed."""
        self.text += piece
        sentences = split_sentences(self.text, self.language)
        if len(sentences) > 1:
            self.text = sentences[-1]
            return self._cut(sentences[:-1]) + self._overlong()
        return self._overlong()

    def _overlong(self) -> list[str]:
        """The pending text cut when it is past `max_chars` without a sentence end (all but
        its last piece, which may still grow)."""
        if len(self.text.strip()) <= self.max_chars:
            return []
        pieces = split_into_chunks(self.text, self.max_chars, self.language)
        self.text = pieces[-1] + self.text[len(self.text.rstrip()) :]  # a space that ended the last piece still separates it from the next
        return pieces[:-1]

    def _cut(self, sentences: list[str]) -> list[str]:
        return [piece for sentence in sentences for piece in split_into_chunks(sentence, self.max_chars, self.language)]

    def flush(self) -> list[str]:
        """Everything buffered, as sentences."""
        rest, self.text = self.text, ""
        return self._cut(split_sentences(rest, self.language)) if rest.strip() else []

    def clear(self) -> int:
        """Drops the buffered text; returns how many characters it held."""
        dropped, self.text = len(self.text), ""
        return dropped
