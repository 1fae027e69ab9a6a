"""Where the weights come from: a local checkpoint, the Hugging Face hub, or random.

`auto` prefers a configured local folder, then the hub, then random weights with a loud
warning; `local` and `huggingface` never fall back, so a production deploy that names its
source fails at start-up instead of silently serving noise. Each model family
(`contract/families.py`, its code in `models/families/`) has its own folder, repository and files.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Literal, TypeVar

import torch
from chatterbox.mtl_tts import ChatterboxMultilingualTTS
from chatterbox.tts import ChatterboxTTS
from chatterbox.tts_turbo import ChatterboxTurboTTS
from chatterbox.vc import ChatterboxVC

from config import ModelSettings
from contract.families import FAMILIES, FamilyFacts, ModelName
from models.families import family_class
from models.precision import apply_precision, model_dtype
from models.random_weights import build_random_s3gen

logger = logging.getLogger(__name__)

LoadedSource = Literal["local", "huggingface", "random"]
ModelT = TypeVar("ModelT", ChatterboxTTS, ChatterboxMultilingualTTS, ChatterboxTurboTTS, ChatterboxVC)
VC_FILES = ("s3gen.safetensors",)


class ModelLoadError(RuntimeError):
    """The configured weights cannot be loaded; the message says which and how to fix it."""


@dataclass(frozen=True)
class Loaded(Generic[ModelT]):
    """A loaded model plus the facts `/api/v1/health` reports about it."""

    model: ModelT
    source: LoadedSource
    device: str
    location: str | None
    family: FamilyFacts = FAMILIES["original"]
    dtype: str = "float32"  # T3's and S3Gen's flow's (`models/precision.py`)

    @property
    def random_weights(self) -> bool:
        """Random weights never sample T3's stop token: the TTS engine ends their utterances
        after a plausible length instead. Real weights (local or hub) always stop by themselves."""
        return self.source == "random"


def resolve_device(requested: str) -> str:
    if requested != "auto":
        if requested == "cuda" and not torch.cuda.is_available():
            raise ModelLoadError("CHATTERBOX_DEVICE=cuda but no CUDA device is visible")
        if requested == "mps" and not torch.backends.mps.is_available():
            raise ModelLoadError("CHATTERBOX_DEVICE=mps but MPS is not available")
        return requested
    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def _local_dir(folder: Path | None, variable: str, required: tuple[str, ...]) -> Path:
    if folder is None:
        raise ModelLoadError(f"CHATTERBOX_MODEL_SOURCE=local needs {variable}")
    missing = [name for name in required if not (folder / name).is_file()]
    if missing:
        raise ModelLoadError(f"{variable}={folder} lacks {', '.join(missing)}")
    return folder


def _hub_dir(repo_id: str, required: tuple[str, ...], optional: tuple[str, ...]) -> Path:
    """Download (or reuse from the hub cache) the checkpoint files; returns their folder."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    folder: Path | None = None
    for name in required + optional:
        try:
            folder = Path(hf_hub_download(repo_id=repo_id, filename=name)).parent
        except EntryNotFoundError:
            if name not in optional:
                raise
    assert folder is not None
    return folder


def _resolve_checkpoint(settings: ModelSettings, family: FamilyFacts, required: tuple[str, ...] | None = None) -> tuple[LoadedSource, Path | None]:
    checkpoint = settings.checkpoint(family.name)
    required = family.files if required is None else required
    if settings.source == "random":
        return "random", None
    if settings.source == "local" or (settings.source == "auto" and checkpoint.dir is not None):
        return "local", _local_dir(checkpoint.dir, family.dir_variable, required)
    try:
        return "huggingface", _hub_dir(checkpoint.hf_repo_id, required, family.optional_files)
    except Exception as exc:
        if settings.source == "huggingface":
            raise ModelLoadError(f"cannot download {checkpoint.hf_repo_id} from the Hugging Face hub: {exc}") from exc
        logger.warning(
            "!!! RANDOM WEIGHTS !!! The Hugging Face hub is unreachable (%s) and no %s is set: "
            "serving randomly initialised Chatterbox networks (%s). Output will be noise. "
            "Set CHATTERBOX_MODEL_SOURCE and %s to fix.",
            exc, family.dir_variable, family.name, family.dir_variable,
        )
        return "random", None


def load_tts(settings: ModelSettings, name: ModelName = "original") -> Loaded:
    """One TTS model of the family `name`, with its own architecture whatever the source."""
    family, code = FAMILIES[name], family_class(name)
    device = resolve_device(settings.device)
    source, folder = _resolve_checkpoint(settings, family)
    if folder is None:
        model = code.build_random(settings.random_seed, settings.random_t3_layers, settings.random_s3gen, device)
    else:
        try:
            model = code.from_local(folder, device)
        except Exception as exc:  # a truncated file, a wrong checkpoint in the folder
            raise ModelLoadError(f"the {name} model in {folder} cannot be loaded ({type(exc).__name__}: {str(exc)[:300]}); check {family.dir_variable}") from exc
    dtype = apply_precision(model, model_dtype(settings.dtype, device))
    logger.info("tts model loaded", extra={"model": name, "source": source, "device": device, "location": str(folder)})
    return Loaded(model, source, device, None if folder is None else str(folder), family, dtype)


def load_vc(settings: ModelSettings) -> Loaded[ChatterboxVC]:
    device = resolve_device(settings.device)
    source, folder = _resolve_checkpoint(settings, FAMILIES["original"], VC_FILES)
    if folder is None:
        model = ChatterboxVC(build_random_s3gen(settings.random_seed, settings.random_s3gen).to(device).eval(), device)
    else:
        model = ChatterboxVC.from_local(folder, device)
    dtype = apply_precision(model, model_dtype(settings.dtype, device))
    logger.info("vc model loaded", extra={"source": source, "device": device, "location": str(folder)})
    return Loaded(model, source, device, None if folder is None else str(folder), dtype=dtype)
