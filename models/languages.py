"""The languages Chatterbox-Multilingual speaks (ISO 639-1), as upstream lists them; the
original and Turbo models speak English only."""

from __future__ import annotations

from chatterbox.mtl_tts import SUPPORTED_LANGUAGES

LANGUAGES: dict[str, str] = dict(SUPPORTED_LANGUAGES)  # code -> English name
ENGLISH_ONLY = {"en": "English"}
