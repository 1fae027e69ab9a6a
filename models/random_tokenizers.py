"""Tokenizers generated offline for random weights, one per model family, each with the ids
its T3 expects: the checkpoints' own tokenizer files come from the hub, which is not always
reachable (CI, air-gapped installs).

- original: characters of printable ASCII, with [STOP] and [START] at T3Config's ids;
- multilingual: the same, then graphemes of the 23 languages after NFKD (combining marks,
  Greek, Cyrillic, Arabic, Hebrew, Devanagari, Hangul jamo, kana), the language tokens
  (`[en]`, `[zh]`, ...) and Cangjie code tokens (`[cj_a]`...) for Chinese, all within the
  2,454-token vocabulary; with a generated Cangjie table, so Chinese text tokenizes offline;
- turbo: GPT-2's byte-level layout and size (50,257 ids, `<|endoftext|>` last), then the
  paralinguistic tags as added tokens, padded to the 50,276 ids Turbo's T3 embeds.

Characters outside a vocabulary map to [UNK]: random weights only need the ids to fit.
"""

from __future__ import annotations

import json
import string
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import chatterbox.models.tokenizers.tokenizer as tokenizer_module
from chatterbox.models.t3.modules.t3_config import T3Config
from chatterbox.models.tokenizers import EnTokenizer, MTLTokenizer
from tokenizers import Tokenizer, decoders, pre_tokenizers
from tokenizers.models import BPE
from transformers import PreTrainedTokenizerFast

from models.languages import LANGUAGES
from text.script import DOCUMENTED_TAGS

SPECIAL_TOKENS = ["[STOP]", "[UNK]", "[SPACE]", "[PAD]", "[SEP]", "[CLS]", "[MASK]"]
START_TOKEN = "[START]"
# The tags Resemble documents for Turbo; a real checkpoint's list is read from its tokenizer.
TURBO_TAGS = list(DOCUMENTED_TAGS)  # the random tokenizer has the tags the real one has
GPT2_VOCAB_SIZE = 50_257
TURBO_TEXT_VOCAB_SIZE = 50_276
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


def _save_and_load(tokenizer: Tokenizer, load: type[EnTokenizer] | type[MTLTokenizer]) -> EnTokenizer | MTLTokenizer:
    """Upstream's tokenizers load only from a file; it lives just long enough to be read."""
    with tempfile.TemporaryDirectory(prefix="chatterbox-tokenizer-") as folder:
        path = Path(folder) / "tokenizer.json"
        tokenizer.save(str(path))
        return load(str(path))


def _grapheme_tokenizer(config: T3Config, extra: list[str]) -> Tokenizer:
    """[STOP] first, [START] at `config.start_text_token`, ASCII characters between, and
    `extra` after [START]; ids are contiguous (a gap corrupts the file)."""
    tokens = SPECIAL_TOKENS + list(string.ascii_letters + string.digits + string.punctuation)
    tokens += [f"[RESERVED_{index}]" for index in range(len(tokens), config.start_text_token)]
    tokens += [START_TOKEN, *extra]
    assert len(tokens) <= config.text_tokens_dict_size, f"{len(tokens)} tokens do not fit {config.text_tokens_dict_size}"
    vocab = {token: index for index, token in enumerate(tokens)}
    assert vocab["[STOP]"] == config.stop_text_token and vocab[START_TOKEN] == config.start_text_token
    tokenizer = Tokenizer(BPE(vocab=vocab, merges=[], unk_token="[UNK]"))
    tokenizer.add_special_tokens([token for token in tokens if token.startswith("[") and len(token) > 1])
    return tokenizer


def english_tokenizer(config: T3Config) -> EnTokenizer:
    return _save_and_load(_grapheme_tokenizer(config, []), EnTokenizer)


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
        path = Path(folder) / "Cangjie5_TC.json"
        path.write_text(json.dumps([f"{chr(point)}\t{cangjie_code(chr(point))}" for point in range(CJK_FIRST, CJK_LAST + 1)]), encoding="utf-8")
        with mock.patch.object(tokenizer_module, "hf_hub_download", lambda **_: str(path)):
            yield


def multilingual_tokenizer(config: T3Config) -> MTLTokenizer:
    graphemes = [chr(point) for first, last in GRAPHEME_RANGES for point in range(first, last + 1)]
    languages = [f"[{code}]" for code in LANGUAGES]
    cangjie = [f"[cj_{letter}]" for letter in CANGJIE_LETTERS] + ["[cj_.]"] + [f"[cj_{digit}]" for digit in string.digits]
    tokenizer = _grapheme_tokenizer(config, languages + cangjie + graphemes)
    with generated_cangjie_table():
        return _save_and_load(tokenizer, MTLTokenizer)


def turbo_tokenizer() -> PreTrainedTokenizerFast:
    """GPT-2's byte-level pre-tokenizer and id layout without its merges: every byte is a
    token, the rest of the 50,257 ids are placeholders, then the tags."""
    byte_symbols = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {symbol: index for index, symbol in enumerate(byte_symbols)}
    vocab |= {f"<|placeholder_{index}|>": index for index in range(len(vocab), GPT2_VOCAB_SIZE - 1)}
    vocab["<|endoftext|>"] = GPT2_VOCAB_SIZE - 1
    tokenizer = Tokenizer(BPE(vocab=vocab, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    padding = [f"<|added_{index}|>" for index in range(TURBO_TEXT_VOCAB_SIZE - GPT2_VOCAB_SIZE - len(TURBO_TAGS))]
    tokenizer.add_tokens(TURBO_TAGS)
    tokenizer.add_special_tokens(padding)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|endoftext|>", bos_token="<|endoftext|>", unk_token="<|endoftext|>")
    fast.pad_token = fast.eos_token  # as upstream sets it
    assert len(fast) == TURBO_TEXT_VOCAB_SIZE
    return fast
