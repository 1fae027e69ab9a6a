"""The three Chatterbox models built with random weights of their own architecture, their
generated tokenizers, and the loader's per-model checkpoint rules."""

from __future__ import annotations

import unicodedata

import pytest
from chatterbox.models.s3gen import S3Gen
from chatterbox.models.tokenizers.tokenizer import UNK
from chatterbox.mtl_tts import SUPPORTED_LANGUAGES, ChatterboxMultilingualTTS
from chatterbox.tts import ChatterboxTTS
from chatterbox.tts_turbo import ChatterboxTurboTTS, punc_norm

from contract.families import FAMILIES, ModelName
from contract.languages import LANGUAGES
from harness.model_settings import random_model_settings
from models.families.turbo import TURBO_TAGS
from models.loader import Loaded, ModelLoadError, _resolve_checkpoint, load_tts


@pytest.fixture(scope="module")
def models() -> dict[ModelName, Loaded]:
    settings = random_model_settings()
    return {name: load_tts(settings, name) for name in ("multilingual", "turbo")}


def test_turbo_is_gpt2_with_meanflow_and_tags(models: dict[ModelName, Loaded]) -> None:
    turbo = models["turbo"].model
    assert isinstance(turbo, ChatterboxTurboTTS) and models["turbo"].family.name == "turbo"
    hp = turbo.t3.hp
    assert turbo.t3.is_gpt and not hasattr(turbo.t3.tfmr, "wte") and len(turbo.t3.tfmr.h) == 1
    assert (hp.text_tokens_dict_size, hp.speech_tokens_dict_size, hp.speech_cond_prompt_len) == (50_276, 6_563, 375)
    assert hp.input_pos_emb is None and not hp.use_perceiver_resampler and not hp.emotion_adv
    assert isinstance(turbo.s3gen, S3Gen) and turbo.s3gen.meanflow
    tokenizer = turbo.tokenizer
    assert len(tokenizer) == hp.text_tokens_dict_size
    ids = tokenizer(punc_norm("Well [laugh] that was [clear throat] odd"), return_tensors="pt").input_ids[0]
    assert int(ids.max()) < hp.text_tokens_dict_size
    tag_ids = [tokenizer.convert_tokens_to_ids(tag) for tag in ("[laugh]", "[clear throat]")]
    assert all(tag_id in ids.tolist() for tag_id in tag_ids)  # each tag is one token, not its letters
    assert set(TURBO_TAGS) <= set(tokenizer.get_added_vocab())


def test_multilingual_tokenizes_every_language_within_its_vocabulary(models: dict[ModelName, Loaded]) -> None:
    model = models["multilingual"].model
    assert isinstance(model, ChatterboxMultilingualTTS) and model.t3.hp.is_multilingual
    tokenizer, vocab = model.tokenizer, model.tokenizer.tokenizer.get_vocab()
    samples = {"fr": "Bonjour à tous", "ru": "Привет, мир", "el": "Καλημέρα", "ko": "안녕하세요", "ja": "今日は良い天気です。", "hi": "नमस्ते", "he": "שלום", "ar": "مرحبا", "zh": "你好，世界。"}
    for code, text in samples.items():
        ids = tokenizer.encode(text, language_id=code)
        assert ids[0] == vocab[f"[{code}]"], code
        assert max(ids) < model.t3.hp.text_tokens_dict_size
        assert vocab[UNK] not in ids, f"{code}: {tokenizer.decode(ids)}"
    chinese = tokenizer.decode(tokenizer.encode("你好", language_id="zh"))
    assert "[cj_" in chinese  # Chinese goes through the (generated) Cangjie table, offline
    japanese = tokenizer.decode(tokenizer.encode("天気", language_id="ja"))
    assert "天" not in japanese and "て" in unicodedata.normalize("NFC", japanese)  # kanji read as kana (pykakasi)
    assert LANGUAGES == SUPPORTED_LANGUAGES  # our copy (light to import) is upstream's list


def test_the_original_model_keeps_its_layout(random_tts: Loaded[ChatterboxTTS]) -> None:
    assert isinstance(random_tts.model, ChatterboxTTS) and random_tts.family.name == "original" and not random_tts.model.t3.is_gpt


@pytest.mark.parametrize(("name", "variable", "missing"), [
    ("turbo", "CHATTERBOX_MODEL__TURBO__DIR", "t3_turbo_v1.safetensors, s3gen_meanflow.safetensors"),
    ("multilingual", "CHATTERBOX_MODEL__MULTILINGUAL__DIR", "t3_mtl23ls_v2.safetensors, s3gen.pt, grapheme_mtl_merged_expanded_v1.json, Cangjie5_TC.json"),
])
def test_each_model_has_its_own_folder_and_files(tmp_path, name: ModelName, variable: str, missing: str) -> None:
    settings = random_model_settings().model_copy(update={"source": "local"})
    with pytest.raises(ModelLoadError, match=variable):
        _resolve_checkpoint(settings, FAMILIES[name])
    (tmp_path / FAMILIES[name].files[0]).write_bytes(b"")
    settings = settings.model_copy(update={name: settings.checkpoint(name).model_copy(update={"dir": tmp_path})})
    with pytest.raises(ModelLoadError, match=f"{variable}={tmp_path} lacks {missing}"):
        _resolve_checkpoint(settings, FAMILIES[name])


def test_a_broken_checkpoint_is_a_clear_load_error(tmp_path) -> None:
    for file in FAMILIES["turbo"].files:
        (tmp_path / file).write_bytes(b"not safetensors")
    settings = random_model_settings().model_copy(update={"source": "local"})
    settings = settings.model_copy(update={"turbo": settings.turbo.model_copy(update={"dir": tmp_path})})
    with pytest.raises(ModelLoadError, match=f"the turbo model in {tmp_path} cannot be loaded .*CHATTERBOX_MODEL__TURBO__DIR"):
        load_tts(settings, "turbo")


def test_each_model_asks_the_hub_for_its_own_repository(hub_offline: None) -> None:
    settings = random_model_settings().model_copy(update={"source": "huggingface"})
    with pytest.raises(ModelLoadError, match="ResembleAI/chatterbox-turbo"):
        _resolve_checkpoint(settings, FAMILIES["turbo"])
