"""The languages Chatterbox-Multilingual speaks (ISO 639-1), as upstream's
`chatterbox.mtl_tts.SUPPORTED_LANGUAGES` lists them (a test keeps the two equal); kept here
without importing the model package, so voice records can be validated cheaply. The
original and Turbo models speak English only."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

LANGUAGES: dict[str, str] = {
    "ar": "Arabic", "da": "Danish", "de": "German", "el": "Greek", "en": "English", "es": "Spanish", "fi": "Finnish", "fr": "French",
    "he": "Hebrew", "hi": "Hindi", "it": "Italian", "ja": "Japanese", "ko": "Korean", "ms": "Malay", "nl": "Dutch", "no": "Norwegian",
    "pl": "Polish", "pt": "Portuguese", "ru": "Russian", "sv": "Swedish", "sw": "Swahili", "tr": "Turkish", "zh": "Chinese",
}
ENGLISH_ONLY = {"en": "English"}


def check_language(code: str) -> str:
    if code not in LANGUAGES:
        raise ValueError(f"{code!r} is not a language Chatterbox speaks; use one of: {', '.join(LANGUAGES)}")
    return code


Language = Annotated[str, AfterValidator(check_language)]
