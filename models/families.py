"""The Chatterbox model family: what distinguishes the original model, Multilingual and
Turbo, in one place the loader, the engines and the API read.

| | original | multilingual | turbo |
| --- | --- | --- | --- |
| T3 | Llama 520M, CFG | Llama 520M, CFG, language token | GPT-2 medium, no CFG |
| languages | en | 23 | en |
| S3Gen | 10 flow steps | 10 flow steps | meanflow, 2 steps |
| tags | no | no | yes |
| hub repository | ResembleAI/chatterbox | ResembleAI/chatterbox | ResembleAI/chatterbox-turbo |
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

from config.settings import ModelName, S3GenSize
from models.languages import ENGLISH_ONLY, LANGUAGES

# The model package (about 15 s of CPU to import) is imported only when a model is loaded:
# the API service reads this table for languages and parameters and never loads a model.

CANGJIE_TABLE = "Cangjie5_TC.json"


def _original_from_local(folder: Path, device: str) -> Any:
    from chatterbox.tts import ChatterboxTTS

    return ChatterboxTTS.from_local(folder, device)


def _multilingual_from_local(folder: Path, device: str) -> Any:
    """Upstream's loader, except that the Cangjie table (Chinese) is read from the folder:
    upstream asks the hub for it even when loading locally, so air-gapped installs lost Chinese."""
    import chatterbox.models.tokenizers.tokenizer as tokenizer_module
    from chatterbox.mtl_tts import ChatterboxMultilingualTTS

    table = folder / CANGJIE_TABLE
    with mock.patch.object(tokenizer_module, "hf_hub_download", lambda **_: str(table)) if table.is_file() else nullcontext():
        return ChatterboxMultilingualTTS.from_local(folder, device)


def _turbo_from_local(folder: Path, device: str) -> Any:
    from chatterbox.tts_turbo import ChatterboxTurboTTS

    return ChatterboxTurboTTS.from_local(folder, device)


def _random(builder: str) -> Callable[[int, int, S3GenSize, str], Any]:
    def build(seed: int, t3_layers: int, s3gen_size: S3GenSize, device: str) -> Any:
        from models import random_weights

        return getattr(random_weights, builder)(seed, t3_layers, s3gen_size, device)

    return build


@dataclass(frozen=True)
class Family:
    name: ModelName
    files: tuple[str, ...]  # a checkpoint folder must hold these
    optional_files: tuple[str, ...]  # and may hold these (conds.pt: the built-in voice)
    dir_variable: str  # the environment variable naming its local folder
    languages: dict[str, str]  # ISO 639-1 code -> name
    guidance: bool  # honours cfg_weight, exaggeration and min_p (Turbo ignores them upstream)
    tags: bool  # performs paralinguistic tags ([laugh], ...): those its tokenizer has
    from_local: Callable[[Path, str], Any]
    build_random: Callable[[int, int, S3GenSize, str], Any]


FAMILIES: dict[ModelName, Family] = {
    "original": Family(
        "original", ("ve.safetensors", "t3_cfg.safetensors", "s3gen.safetensors", "tokenizer.json"), ("conds.pt",),
        "CHATTERBOX_MODEL_DIR", ENGLISH_ONLY, True, False, _original_from_local, _random("build_random_original"),
    ),
    "multilingual": Family(
        "multilingual", ("ve.pt", "t3_mtl23ls_v2.safetensors", "s3gen.pt", "grapheme_mtl_merged_expanded_v1.json", CANGJIE_TABLE), ("conds.pt",),
        "CHATTERBOX_MODEL__MULTILINGUAL__DIR", LANGUAGES, True, False, _multilingual_from_local, _random("build_random_multilingual"),
    ),
    "turbo": Family(
        "turbo", ("ve.safetensors", "t3_turbo_v1.safetensors", "s3gen_meanflow.safetensors"),
        # the GPT-2 tokenizer: tokenizer.json, or vocab.json with merges.txt (AutoTokenizer takes either)
        ("tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "conds.pt"),
        "CHATTERBOX_MODEL__TURBO__DIR", ENGLISH_ONLY, False, True, _turbo_from_local, _random("build_random_turbo"),
    ),
}
