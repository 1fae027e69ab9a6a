"""Where the weights come from: a local checkpoint, the Hugging Face hub, or random.

`auto` prefers a configured local folder, then the hub, then random weights with a loud
warning; `local` and `huggingface` never fall back, so a production deploy that names its
source fails at start-up instead of silently serving noise.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Literal, TypeVar

import torch
from chatterbox.tts import ChatterboxTTS
from chatterbox.vc import ChatterboxVC

from config import ModelSettings
from models.random_weights import build_random_components, build_random_s3gen

logger = logging.getLogger(__name__)

LoadedSource = Literal["local", "huggingface", "random"]
ModelT = TypeVar("ModelT", ChatterboxTTS, ChatterboxVC)
TTS_FILES = ("ve.safetensors", "t3_cfg.safetensors", "s3gen.safetensors", "tokenizer.json")
VC_FILES = ("s3gen.safetensors",)
OPTIONAL_FILES = ("conds.pt",)


class ModelLoadError(RuntimeError):
    """The configured weights cannot be loaded; the message says which and how to fix it."""


@dataclass(frozen=True)
class Loaded(Generic[ModelT]):
    """A loaded model plus the facts `/api/v1/health` reports about it."""

    model: ModelT
    source: LoadedSource
    device: str
    location: str | None

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


def _local_dir(settings: ModelSettings, required: tuple[str, ...]) -> Path:
    if settings.dir is None:
        raise ModelLoadError("CHATTERBOX_MODEL_SOURCE=local needs CHATTERBOX_MODEL_DIR")
    missing = [name for name in required if not (settings.dir / name).is_file()]
    if missing:
        raise ModelLoadError(f"CHATTERBOX_MODEL_DIR={settings.dir} lacks {', '.join(missing)}")
    return settings.dir


def _hub_dir(settings: ModelSettings, required: tuple[str, ...]) -> Path:
    """Download (or reuse from the hub cache) the checkpoint files; returns their folder."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    folder: Path | None = None
    for name in required + OPTIONAL_FILES:
        try:
            folder = Path(hf_hub_download(repo_id=settings.hf_repo_id, filename=name)).parent
        except EntryNotFoundError:
            if name not in OPTIONAL_FILES:
                raise
    assert folder is not None
    return folder


def _resolve_checkpoint(settings: ModelSettings, required: tuple[str, ...]) -> tuple[LoadedSource, Path | None]:
    if settings.source == "random":
        return "random", None
    if settings.source == "local" or (settings.source == "auto" and settings.dir is not None):
        return "local", _local_dir(settings, required)
    try:
        return "huggingface", _hub_dir(settings, required)
    except Exception as exc:
        if settings.source == "huggingface":
            raise ModelLoadError(f"cannot download {settings.hf_repo_id} from the Hugging Face hub: {exc}") from exc
        logger.warning(
            "!!! RANDOM WEIGHTS !!! The Hugging Face hub is unreachable (%s) and no "
            "CHATTERBOX_MODEL_DIR is set: serving randomly initialised Chatterbox networks. "
            "Output will be noise. Set CHATTERBOX_MODEL_SOURCE/CHATTERBOX_MODEL_DIR to fix.",
            exc,
        )
        return "random", None


def load_tts(settings: ModelSettings) -> Loaded[ChatterboxTTS]:
    device = resolve_device(settings.device)
    source, folder = _resolve_checkpoint(settings, TTS_FILES)
    if folder is None:
        t3, s3gen, voice_encoder, tokenizer = build_random_components(settings.random_seed, settings.random_t3_layers, settings.random_s3gen)
        model = ChatterboxTTS(
            t3.to(device).eval(), s3gen.to(device).eval(), voice_encoder.to(device).eval(), tokenizer, device
        )
    else:
        model = ChatterboxTTS.from_local(folder, device)
    logger.info("tts model loaded", extra={"source": source, "device": device, "location": str(folder)})
    return Loaded(model, source, device, None if folder is None else str(folder))


def load_vc(settings: ModelSettings) -> Loaded[ChatterboxVC]:
    device = resolve_device(settings.device)
    source, folder = _resolve_checkpoint(settings, VC_FILES)
    if folder is None:
        model = ChatterboxVC(build_random_s3gen(settings.random_seed, settings.random_s3gen).to(device).eval(), device)
    else:
        model = ChatterboxVC.from_local(folder, device)
    logger.info("vc model loaded", extra={"source": source, "device": device, "location": str(folder)})
    return Loaded(model, source, device, None if folder is None else str(folder))
