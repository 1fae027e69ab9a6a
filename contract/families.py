"""The Chatterbox model families, one row each: the table every floor reads what a family is
from, without importing PyTorch.

| | original | multilingual | turbo |
| --- | --- | --- | --- |
| T3 | Llama 520M, CFG | Llama 520M, CFG, language token | GPT-2 medium, no CFG |
| languages | en | 23 | en |
| S3Gen | 10 flow steps | 10 flow steps | meanflow, 2 steps |
| tags | no | no | yes |
| hub repository | ResembleAI/chatterbox | ResembleAI/chatterbox | ResembleAI/chatterbox-turbo |

A row's `module` is the one module of `models/families/` that holds the family's code (text
preparation, conditioning, decode request, render, random weights, tokenizer); everything else
is derived from this table: the configuration's model names and checkpoint sections
(`config/settings.py`), the runner services (`runners/tts_runner.py`), the API service's
runner dependencies (`service.py`). Adding a family: docs/models.md, "Adding a model family".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from contract.languages import ENGLISH_ONLY, LANGUAGES

CANGJIE_TABLE = "Cangjie5_TC.json"  # the multilingual tokenizer's table for Chinese


@dataclass(frozen=True)
class FamilyFacts:
    name: str
    module: str  # its code: a module of models/families/
    runner_service: str  # the BentoML service of its runner (what deploy/ and BENTOML_SERVE_DEPENDS name)
    hub_repo_id: str  # the Hugging Face repository of its checkpoint
    files: tuple[str, ...]  # a checkpoint folder must hold these
    optional_files: tuple[str, ...]  # and may hold these (conds.pt: the built-in voice)
    languages: dict[str, str]  # ISO 639-1 code -> name
    guidance: bool  # honours cfg_weight, exaggeration and min_p (Turbo ignores them upstream)
    tags: bool  # performs paralinguistic tags ([laugh], ...): those its tokenizer has
    min_reference_seconds: float = 0.0  # a voice's reference must be longer than this (upstream asserts)

    @property
    def dir_variable(self) -> str:
        """The environment variable naming its checkpoint folder (the original's predates the others')."""
        return "CHATTERBOX_MODEL_DIR" if self.name == "original" else f"CHATTERBOX_MODEL__{self.name.upper()}__DIR"

    @property
    def runner_class(self) -> str:
        """The name of its runner's class in `runners.tts_runner`."""
        return f"{self.name.title()}Runner"

    @property
    def runner_attribute(self) -> str:
        """The API service's attribute holding its runner dependency."""
        return f"{self.name}_runner"


FAMILIES: dict[str, FamilyFacts] = {
    family.name: family
    for family in (
        FamilyFacts(
            "original", "models.families.original", "chatterbox-tts-runner", "ResembleAI/chatterbox",
            ("ve.safetensors", "t3_cfg.safetensors", "s3gen.safetensors", "tokenizer.json"), ("conds.pt",),
            ENGLISH_ONLY, guidance=True, tags=False,
        ),
        FamilyFacts(
            "multilingual", "models.families.multilingual", "chatterbox-multilingual-runner", "ResembleAI/chatterbox",
            ("ve.pt", "t3_mtl23ls_v2.safetensors", "s3gen.pt", "grapheme_mtl_merged_expanded_v1.json", CANGJIE_TABLE), ("conds.pt",),
            LANGUAGES, guidance=True, tags=False,
        ),
        FamilyFacts(
            "turbo", "models.families.turbo", "chatterbox-turbo-runner", "ResembleAI/chatterbox-turbo",
            ("ve.safetensors", "t3_turbo_v1.safetensors", "s3gen_meanflow.safetensors"),
            # the GPT-2 tokenizer: tokenizer.json, or vocab.json with merges.txt (AutoTokenizer takes either)
            ("tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "conds.pt"),
            ENGLISH_ONLY, guidance=False, tags=True, min_reference_seconds=5.0,
        ),
    )
}
MODEL_NAMES: tuple[str, ...] = tuple(FAMILIES)
ModelName = Literal[MODEL_NAMES]  # type: ignore[valid-type]  # "original" | "multilingual" | "turbo", from the table
