"""Settings: YAML defaults, contract env names, generic overrides, errors naming the key."""

from __future__ import annotations

import pytest

from config.settings import ConfigError, load_settings


def test_defaults_come_from_the_yaml_file(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CHATTERBOX_MODEL_SOURCE", "STORAGE_BACKEND", "STORAGE_DIR", "CHATTERBOX_DEVICE"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.model.source == "auto" and settings.model.device == "auto"
    assert settings.storage.backend == "local" and str(settings.storage.dir) == "data"


def test_contract_names_and_generic_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATTERBOX_MODEL_SOURCE", "random")
    monkeypatch.setenv("CHATTERBOX_DEVICE", "cpu")
    monkeypatch.setenv("STORAGE_BACKEND", "s3")
    monkeypatch.setenv("S3_BUCKET", "voices-bucket")
    monkeypatch.setenv("S3_PREFIX", "team/a")
    monkeypatch.setenv("S3_ENDPOINT_URL", "http://minio:9000")
    monkeypatch.setenv("CHATTERBOX_TTS__MAX_CHUNK_CHARS", "120")
    settings = load_settings()
    assert (settings.model.source, settings.model.device) == ("random", "cpu")
    assert (settings.storage.backend, settings.storage.s3_bucket, settings.storage.s3_prefix) == ("s3", "voices-bucket", "team/a")
    assert settings.storage.s3_endpoint_url == "http://minio:9000"
    assert settings.tts.max_chunk_chars == 120


def test_models_enabled_default_and_their_checkpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings().model
    assert (settings.enabled, settings.default) == (["original", "multilingual", "turbo"], "original")
    monkeypatch.setenv("CHATTERBOX_MODELS", " turbo, multilingual ")
    monkeypatch.setenv("CHATTERBOX_DEFAULT_MODEL", "turbo")
    monkeypatch.setenv("CHATTERBOX_MODEL_DIR", "/models/original")
    monkeypatch.setenv("CHATTERBOX_MODEL__TURBO__DIR", "/models/turbo")
    settings = load_settings().model
    assert (settings.enabled, settings.default) == (["turbo", "multilingual"], "turbo")
    assert str(settings.checkpoint("turbo").dir) == "/models/turbo" and settings.checkpoint("turbo").hf_repo_id == "ResembleAI/chatterbox-turbo"
    assert str(settings.checkpoint("original").dir) == "/models/original" and settings.checkpoint("multilingual").dir is None


def test_api_keys_and_openai_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("API_KEYS", raising=False)
    assert load_settings().auth.api_keys == []  # unset: open, for local use
    monkeypatch.setenv("API_KEYS", " first-key, second-key ,,")
    monkeypatch.setenv("CHATTERBOX_OPENAI__VOICE_ALIASES", '{"alloy": "alex", "nova": "bella"}')
    monkeypatch.setenv("CHATTERBOX_OPENAI__VOICE_RESOLUTION", '["alias", "library"]')
    settings = load_settings()
    assert settings.auth.api_keys == ["first-key", "second-key"]
    assert settings.openai.voice_aliases == {"alloy": "alex", "nova": "bella"}
    assert settings.openai.voice_resolution == ["alias", "library"]


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"CHATTERBOX_MODEL_SOURCE": "cloud"}, "model.source (env CHATTERBOX_MODEL_SOURCE)"),
        ({"STORAGE_BACKEND": "ftp"}, "storage.backend (env STORAGE_BACKEND)"),
        ({"CHATTERBOX_TTS__MAX_CHUNK_CHARS": "7"}, "tts.max_chunk_chars (env CHATTERBOX_TTS__MAX_CHUNK_CHARS)"),
        ({"STORAGE_BACKEND": "s3"}, "S3_BUCKET"),
        ({"CHATTERBOX_OPENAI__VOICE_RESOLUTION": '["library", "guess"]'}, "openai.voice_resolution.1 (env CHATTERBOX_OPENAI__VOICE_RESOLUTION)"),
        ({"CHATTERBOX_OPENAI__VOICE_RESOLUTION": '["library", "library"]'}, "each step may appear once"),
        ({"CHATTERBOX_LOGGING__LEVEL": "LOUD"}, "logging.level (env CHATTERBOX_LOGGING__LEVEL)"),
        ({"CHATTERBOX_RUNNER__MAX_BATCH_SIZE": "1"}, "runner.max_batch_size (env CHATTERBOX_RUNNER__MAX_BATCH_SIZE)"),  # BentoML would crash at start
        ({"CHATTERBOX_MODELS": "turbo,tts-2"}, "model.enabled.1 (env CHATTERBOX_MODELS)"),
        ({"CHATTERBOX_MODELS": "turbo", "CHATTERBOX_DEFAULT_MODEL": "original"}, "model.default is 'original', which model.enabled (turbo) does not list"),
        ({"CHATTERBOX_MODELS": "turbo,turbo", "CHATTERBOX_DEFAULT_MODEL": "turbo"}, "model.enabled lists a model twice"),
    ],
)
def test_bad_values_stop_start_up_naming_the_key(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: str) -> None:
    monkeypatch.delenv("S3_BUCKET", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match=named.replace("(", r"\(").replace(")", r"\)")):
        load_settings()


def test_alternative_config_file(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from config.settings import DEFAULT_CONFIG_FILE

    custom = tmp_path / "custom.yaml"
    custom.write_text(DEFAULT_CONFIG_FILE.read_text().replace("max_chunk_chars: 300", "max_chunk_chars: 222"))
    monkeypatch.setenv("CHATTERBOX_CONFIG_FILE", str(custom))
    assert load_settings().tts.max_chunk_chars == 222
