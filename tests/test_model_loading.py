"""Where weights come from: `local` and `huggingface` never fall back; `auto` does, loudly."""

from __future__ import annotations

import logging

import pytest

from config.settings import ModelSettings
from contract.families import FAMILIES
from models.loader import ModelLoadError, _resolve_checkpoint, load_tts, resolve_device

ORIGINAL = FAMILIES["original"]


def settings(**overrides) -> ModelSettings:
    base = dict(source="auto", dir=None, device="cpu", hf_repo_id="ResembleAI/chatterbox", random_seed=0, random_t3_layers=2, random_s3gen="small")
    return ModelSettings(**(base | overrides))


def test_local_needs_a_folder() -> None:
    with pytest.raises(ModelLoadError, match="CHATTERBOX_MODEL_DIR"):
        _resolve_checkpoint(settings(source="local"), ORIGINAL)


def test_local_names_the_missing_files(tmp_path) -> None:
    (tmp_path / "ve.safetensors").write_bytes(b"")
    with pytest.raises(ModelLoadError, match="t3_cfg.safetensors, s3gen.safetensors, tokenizer.json"):
        _resolve_checkpoint(settings(source="local", dir=tmp_path), ORIGINAL)


def test_auto_with_a_folder_means_local_without_fallback(tmp_path) -> None:
    with pytest.raises(ModelLoadError):
        _resolve_checkpoint(settings(source="auto", dir=tmp_path), ORIGINAL)


def test_huggingface_never_falls_back(hub_offline: None) -> None:
    with pytest.raises(ModelLoadError, match="Hugging Face hub"):
        _resolve_checkpoint(settings(source="huggingface"), ORIGINAL)


def test_auto_falls_back_to_random_with_a_loud_warning(hub_offline: None, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="models.loader"):
        assert _resolve_checkpoint(settings(source="auto"), ORIGINAL) == ("random", None)
    assert "RANDOM WEIGHTS" in caplog.text


def test_random_mode_builds_the_real_classes_deterministically() -> None:
    from chatterbox.tts import ChatterboxTTS

    first, second = load_tts(settings(source="random")), load_tts(settings(source="random"))
    assert isinstance(first.model, ChatterboxTTS) and first.source == "random" and first.device == "cpu"
    assert first.model.conds is None  # no built-in voice: requests must name one
    assert len(first.model.t3.tfmr.layers) == 2
    for a, b in zip(first.model.s3gen.parameters(), second.model.s3gen.parameters()):
        assert a.equal(b)
    assert first.model.tokenizer.text_to_tokens("Hi there").shape == (1, 8)


def test_unavailable_device_is_an_error() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ModelLoadError, match="CHATTERBOX_DEVICE=cuda"):
        resolve_device("cuda")
    assert resolve_device("auto") in ("cpu", "mps")
