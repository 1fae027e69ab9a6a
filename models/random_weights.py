"""Real Chatterbox classes with randomly initialised weights: what every family's random
build shares (each family's own build is in its module, `models/families/`).

The Hugging Face hub is not always reachable (CI, air-gapped installs). Random mode builds
each model family's own classes, as its checkpoint loader does: the original's Llama T3, the
multilingual T3 with its 2,454-token vocabulary, Turbo's GPT-2 T3 and meanflow S3Gen, with a
small T3 and a generated tokenizer of the right layout (`models/random_tokenizers.py`), so
the whole inference path runs offline; only the sound is noise. Weights are drawn from a
fixed seed so every replica is identical.

S3Gen comes `small` (the default: the same classes, wired by upstream's own constructor,
with fewer blocks and channels; renders about 30x faster on a CPU) or `full` (the real
checkpoint's layout, for benchmarks of memory and speed).

Random weights never sample T3's stop token, so left alone every chunk would run to
`tts.max_new_tokens` (40 s of noise for "Hello."). Random mode therefore ends each utterance
after about as many speech tokens as saying its text takes (`utterance_tokens`).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any, Callable, TypeVar
from unittest import mock

import chatterbox.models.s3gen.s3gen as s3gen_module
import torch
from chatterbox.models.s3gen import S3Gen
from chatterbox.models.s3gen.decoder import ConditionalDecoder
from chatterbox.models.s3gen.hifigan import HiFTGenerator
from chatterbox.models.s3gen.transformer.upsample_encoder import UpsampleConformerEncoder
from chatterbox.models.s3tokenizer import S3_TOKEN_RATE
from chatterbox.models.t3 import T3
from chatterbox.models.t3.llama_configs import LLAMA_520M_CONFIG_DICT, LLAMA_CONFIGS
from chatterbox.models.t3.modules.t3_config import T3Config
from chatterbox.models.voice_encoder import VoiceEncoder
from s3tokenizer.model_v2 import ModelConfig, S3TokenizerV2

from config.settings import S3GenSize

ModuleT = TypeVar("ModuleT", bound=torch.nn.Module)

CHARACTERS_PER_SECOND = 14.0  # a common speaking rate
RATE_SPREAD = 0.15  # sigma of the log speaking rate: most utterances within about +-30 %
MIN_UTTERANCE_TOKENS = 10  # 0.4 s: even "Hi." takes a breath
# What `small` changes in the networks upstream's S3Gen builds: keyword arguments that
# replace those its constructor passes (sizes its wiring fixes, such as the encoder's 512
# channels, stay), and the speech tokenizer's layout, which S3Tokenizer takes from the
# default of S3TokenizerV2's `config`.
SMALL_S3GEN: dict[type[torch.nn.Module], dict[str, Any]] = {
    UpsampleConformerEncoder: {"attention_heads": 2, "linear_units": 512, "num_blocks": 1},
    ConditionalDecoder: {"channels": [64], "n_blocks": 1, "num_mid_blocks": 1, "num_heads": 2, "attention_head_dim": 32},
    HiFTGenerator: {"base_channels": 32},
}
SMALL_TOKENIZER = ModelConfig(n_audio_state=128, n_audio_head=2, n_audio_layer=1)


def small_t3_config(num_layers: int, multilingual: bool = False) -> T3Config:
    """The original (or multilingual) T3 layout with fewer transformer layers (hidden size
    stays 1024, which the perceiver resampler requires)."""
    name = f"Llama_520M_{num_layers}_layers"
    LLAMA_CONFIGS.setdefault(name, {**LLAMA_520M_CONFIG_DICT, "num_hidden_layers": num_layers})
    config = T3Config.multilingual() if multilingual else T3Config.english_only()
    config.llama_config_name = name
    return config


def seeded(seed: int, factory: Callable[[], ModuleT]) -> ModuleT:
    """Build one network from its own seed, leaving the caller's random state alone, so a
    component comes out the same whichever others are built beside it (TTS and VC share S3Gen)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return factory()


@contextmanager
def _small_s3gen_parts() -> Iterator[None]:
    """While open, upstream's S3Gen constructor builds the small layout (model loading is
    single-threaded, at start-up)."""

    def sized(cls: type[torch.nn.Module], changes: dict[str, Any]) -> Callable[..., torch.nn.Module]:
        return lambda *args, **kwargs: cls(*args, **(kwargs | changes))

    with (
        mock.patch.multiple(s3gen_module, **{cls.__name__: sized(cls, changes) for cls, changes in SMALL_S3GEN.items()}),
        mock.patch.object(S3TokenizerV2.__init__, "__defaults__", (SMALL_TOKENIZER,)),
    ):
        yield


def on_device(seed: int, device: str, t3: T3, s3gen: S3Gen) -> tuple[T3, S3Gen, VoiceEncoder]:
    """A family's random T3 and S3Gen with the voice encoder every family shares (drawn from
    `seed + 2`), moved to `device`, in inference mode."""
    voice_encoder = seeded(seed + 2, VoiceEncoder)
    return t3.to(device).eval(), s3gen.to(device).eval(), voice_encoder.to(device).eval()


def build_random_s3gen(seed: int, size: S3GenSize, meanflow: bool = False) -> S3Gen:
    with _small_s3gen_parts() if size == "small" else nullcontext():
        return seeded(seed + 1, lambda: S3Gen(meanflow=meanflow))


def utterance_tokens(text: str, seed: int) -> int:
    """How many speech tokens random weights say `text` in: the time a speaker needs at about
    14 characters a second, with the rate drawn from a log-normal spread. The draw depends on
    the seed and the text only, so the same request always has the same length while the rows
    of a batch end at different times, as real speech does."""
    rate = CHARACTERS_PER_SECOND * random.Random(f"{seed}:{text}").lognormvariate(0.0, RATE_SPREAD)
    return max(MIN_UTTERANCE_TOKENS, round(len(text) / rate * S3_TOKEN_RATE))
