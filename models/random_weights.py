"""Real Chatterbox classes with randomly initialised weights.

The Hugging Face hub is not always reachable (CI, air-gapped installs). Random mode builds
the same T3, S3Gen, VoiceEncoder and EnTokenizer the real checkpoint uses, with a small T3
and a generated character tokenizer, so the whole inference path runs offline; only the
sound is noise. Weights are drawn from a fixed seed so every replica is identical.
"""

from __future__ import annotations

import string
import tempfile
from pathlib import Path
from typing import Callable, TypeVar

import torch
from chatterbox.models.s3gen import S3Gen
from chatterbox.models.t3 import T3
from chatterbox.models.t3.llama_configs import LLAMA_520M_CONFIG_DICT, LLAMA_CONFIGS
from chatterbox.models.t3.modules.t3_config import T3Config
from chatterbox.models.tokenizers import EnTokenizer
from chatterbox.models.voice_encoder import VoiceEncoder
from tokenizers import Tokenizer
from tokenizers.models import BPE

ModuleT = TypeVar("ModuleT", bound=torch.nn.Module)

SPECIAL_TOKENS = ["[STOP]", "[UNK]", "[SPACE]", "[PAD]", "[SEP]", "[CLS]", "[MASK]"]
START_TOKEN = "[START]"


def small_t3_config(num_layers: int) -> T3Config:
    """The English T3 layout with fewer transformer layers (hidden size stays 1024,
    which the perceiver resampler requires)."""
    name = f"Llama_520M_{num_layers}_layers"
    LLAMA_CONFIGS.setdefault(name, {**LLAMA_520M_CONFIG_DICT, "num_hidden_layers": num_layers})
    config = T3Config.english_only()
    config.llama_config_name = name
    return config


def generated_tokenizer(config: T3Config) -> EnTokenizer:
    """A character-level tokenizer whose ids fit the T3 text vocabulary: [STOP] and
    [START] sit at the ids T3Config expects, each printable ASCII character has its own id,
    anything else maps to [UNK]."""
    tokens = SPECIAL_TOKENS + list(string.ascii_letters + string.digits + string.punctuation)
    # Pad with reserved tokens so ids are contiguous up to [START] (a gap corrupts the file).
    tokens += [f"[RESERVED_{index}]" for index in range(len(tokens), config.start_text_token)]
    tokens.append(START_TOKEN)
    vocab = {token: index for index, token in enumerate(tokens)}
    assert vocab["[STOP]"] == config.stop_text_token
    assert vocab[START_TOKEN] == config.start_text_token < config.text_tokens_dict_size

    tokenizer = Tokenizer(BPE(vocab=vocab, merges=[], unk_token="[UNK]"))
    tokenizer.add_special_tokens([token for token in tokens if len(token) > 1])
    # EnTokenizer only loads from a file; the file lives just long enough to be read.
    with tempfile.TemporaryDirectory(prefix="chatterbox-tokenizer-") as folder:
        path = Path(folder) / "tokenizer.json"
        tokenizer.save(str(path))
        return EnTokenizer(str(path))


def _seeded(seed: int, factory: Callable[[], ModuleT]) -> ModuleT:
    """Build one network from its own seed, leaving the caller's random state alone, so a
    component comes out the same whichever others are built beside it (TTS and VC share S3Gen)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return factory()


def build_random_s3gen(seed: int) -> S3Gen:
    return _seeded(seed + 1, S3Gen)


def build_random_components(seed: int, t3_layers: int) -> tuple[T3, S3Gen, VoiceEncoder, EnTokenizer]:
    config = small_t3_config(t3_layers)
    t3 = _seeded(seed, lambda: T3(config))
    voice_encoder = _seeded(seed + 2, VoiceEncoder)
    return t3, build_random_s3gen(seed), voice_encoder, generated_tokenizer(config)
