"""Tokenizers generated offline for random weights: what the families' tokenizers share.
The checkpoints' own tokenizer files come from the hub, which is not always reachable (CI,
air-gapped installs), so each family's module generates one with the ids its T3 expects
(`models/families/`): the original and multilingual ones from `grapheme_tokenizer`, Turbo's
with GPT-2's byte-level layout. Characters outside a vocabulary map to [UNK]: random weights
only need the ids to fit.
"""

from __future__ import annotations

import string
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from chatterbox.models.t3.modules.t3_config import T3Config
from tokenizers import Tokenizer
from tokenizers.models import BPE

SPECIAL_TOKENS = ["[STOP]", "[UNK]", "[SPACE]", "[PAD]", "[SEP]", "[CLS]", "[MASK]"]
START_TOKEN = "[START]"
LoadedT = TypeVar("LoadedT")


def save_and_load(tokenizer: Tokenizer, load: Callable[[str], LoadedT]) -> LoadedT:
    """Upstream's tokenizers load only from a file; it lives just long enough to be read."""
    with tempfile.TemporaryDirectory(prefix="chatterbox-tokenizer-") as folder:
        path = Path(folder) / "tokenizer.json"
        tokenizer.save(str(path))
        return load(str(path))


def grapheme_tokenizer(config: T3Config, extra: list[str]) -> Tokenizer:
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
