"""Chatterbox-Multilingual: the original's Llama T3 with a language token, 23 languages.

Its random-weight tokenizer holds the original's characters, then graphemes of the 23
languages after NFKD (combining marks, Greek, Cyrillic, Arabic, Hebrew, Devanagari, Hangul
jamo, kana), the language tokens (`[en]`, `[zh]`, ...) and Cangjie code tokens (`[cj_a]`...)
for Chinese, all within the 2,454-token vocabulary; with a generated Cangjie table, so
Chinese text tokenizes offline.
"""

from __future__ import annotations

import json
import string
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from unittest import mock

import chatterbox.models.tokenizers.tokenizer as tokenizer_module
import torch
from chatterbox import mtl_tts
from chatterbox.models.t3 import T3
from chatterbox.models.t3.modules.cond_enc import T3Cond
from chatterbox.models.t3.modules.t3_config import T3Config
from chatterbox.models.tokenizers import MTLTokenizer
from chatterbox.mtl_tts import ChatterboxMultilingualTTS

from config import TTSSettings
from config.settings import S3GenSize
from contract.families import CANGJIE_TABLE
from contract.languages import LANGUAGES
from contract.runner_jobs import TTSJob
from models.families.base import ModelFamily
from models.random_tokenizers import grapheme_tokenizer, save_and_load
from models.random_weights import build_random_s3gen, on_device, seeded, small_t3_config
from models.t3_batch import DecodeRequest

GRAPHEME_RANGES = [  # (first, last) code points
    (0x0300, 0x036F),  # combining diacritics (NFKD splits accented letters into base + mark)
    (0x0370, 0x03FF),  # Greek
    (0x0400, 0x04FF),  # Cyrillic
    (0x0590, 0x05FF),  # Hebrew
    (0x0600, 0x06FF),  # Arabic
    (0x0900, 0x097F),  # Devanagari
    (0x1100, 0x11FF),  # Hangul jamo (Korean syllables are decomposed into these)
    (0x3000, 0x303F),  # CJK punctuation (full-width forms become ASCII under NFKD)
    (0x3040, 0x30FF),  # hiragana and katakana
]
CANGJIE_LETTERS = string.ascii_lowercase[:25]  # Cangjie codes use a-y
CJK_FIRST, CJK_LAST = 0x4E00, 0x9FFF


def cangjie_code(character: str) -> str:
    """A made-up but stable Cangjie code (1-5 letters) for a CJK character."""
    offset = ord(character) - CJK_FIRST
    letters = []
    for _ in range(1 + offset % 5):
        offset, letter = divmod(offset, len(CANGJIE_LETTERS))
        letters.append(CANGJIE_LETTERS[letter])
    return "".join(letters)


@contextmanager
def generated_cangjie_table() -> Iterator[None]:
    """While open, the multilingual tokenizer reads a generated Cangjie table instead of
    downloading Resemble's (`word<TAB>code` lines, as upstream's file has them)."""
    with tempfile.TemporaryDirectory(prefix="chatterbox-cangjie-") as folder:
        path = Path(folder) / CANGJIE_TABLE
        path.write_text(json.dumps([f"{chr(point)}\t{cangjie_code(chr(point))}" for point in range(CJK_FIRST, CJK_LAST + 1)]), encoding="utf-8")
        with mock.patch.object(tokenizer_module, "hf_hub_download", lambda **_: str(path)):
            yield


def multilingual_tokenizer(config: T3Config) -> MTLTokenizer:
    graphemes = [chr(point) for first, last in GRAPHEME_RANGES for point in range(first, last + 1)]
    languages = [f"[{code}]" for code in LANGUAGES]
    cangjie = [f"[cj_{letter}]" for letter in CANGJIE_LETTERS] + ["[cj_.]"] + [f"[cj_{digit}]" for digit in string.digits]
    tokenizer = grapheme_tokenizer(config, languages + cangjie + graphemes)
    with generated_cangjie_table():
        return save_and_load(tokenizer, MTLTokenizer)


class MultilingualFamily(ModelFamily):
    name = "multilingual"
    upstream = ChatterboxMultilingualTTS

    @classmethod
    def from_local(cls, folder: Path, device: str) -> ChatterboxMultilingualTTS:
        """Upstream's loader, except that the Cangjie table (Chinese) is read from the folder:
        upstream asks the hub for it even when loading locally, so air-gapped installs lost Chinese."""
        table = folder / CANGJIE_TABLE
        with mock.patch.object(tokenizer_module, "hf_hub_download", lambda **_: str(table)) if table.is_file() else nullcontext():
            return super().from_local(folder, device)

    @classmethod
    def build_random(cls, seed: int, t3_layers: int, s3gen_size: S3GenSize, device: str) -> ChatterboxMultilingualTTS:
        config = small_t3_config(t3_layers, multilingual=True)
        t3, s3gen, voice_encoder = on_device(seed, device, seeded(seed + 3, lambda: T3(config)), build_random_s3gen(seed, s3gen_size))
        return ChatterboxMultilingualTTS(t3, s3gen, voice_encoder, multilingual_tokenizer(config), device)

    def text_tokens(self, text: str, language: str | None) -> torch.Tensor:
        return self.between_start_and_stop(self.model.tokenizer.text_to_tokens(mtl_tts.punc_norm(text), language_id=(language or "en").lower()))

    def decode_request(self, job: TTSJob, tokens: torch.Tensor, cond: T3Cond, settings: TTSSettings, stop_after: int | None) -> DecodeRequest:
        """Guided rows with upstream's multilingual sampling (min-p 0.05, repetition penalty 2)."""
        return DecodeRequest(**self.request_basics(job, tokens, cond, settings, stop_after), cfg_weight=job.cfg_weight, top_p=1.0, min_p=0.05, repetition_penalty=2.0)


FAMILY = MultilingualFamily
