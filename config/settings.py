"""Typed settings, validated once at start-up.

Precedence, highest first: the contract environment names (``CHATTERBOX_MODEL_SOURCE``,
``STORAGE_BACKEND``, ``S3_BUCKET``, ...), then the generic ``CHATTERBOX_<SECTION>__<KEY>``
variables that reach every key, then ``config/default.yaml`` (or the file named by
``CHATTERBOX_CONFIG_FILE``). A bad value stops start-up with a `ConfigError` that names the
key and the variable that sets it, instead of failing later inside a request.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, ValidationError, create_model, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from contract.families import FAMILIES, MODEL_NAMES, ModelName
from contract.formats import check_sample_rate
from contract.parameters import MAX_SPEED, MIN_SPEED

DEFAULT_CONFIG_FILE = Path(__file__).with_name("default.yaml")
ENV_PREFIX = "CHATTERBOX_"

# The environment names promised to users, docs and deploy manifests: (section, key).
CONTRACT_ENV_NAMES: dict[str, tuple[str, str]] = {
    "CHATTERBOX_MODEL_SOURCE": ("model", "source"),
    "CHATTERBOX_MODEL_DIR": ("model", "dir"),
    "CHATTERBOX_DEVICE": ("model", "device"),
    "CHATTERBOX_MODELS": ("model", "enabled"),
    "CHATTERBOX_DEFAULT_MODEL": ("model", "default"),
    "STORAGE_BACKEND": ("storage", "backend"),
    "STORAGE_DIR": ("storage", "dir"),
    "S3_BUCKET": ("storage", "s3_bucket"),
    "S3_PREFIX": ("storage", "s3_prefix"),
    "S3_ENDPOINT_URL": ("storage", "s3_endpoint_url"),
    "S3_REGION": ("storage", "s3_region"),
    "API_KEYS": ("auth", "api_keys"),
    "DATABASE_URL": ("database", "url"),
}


S3GenSize = Literal["small", "full"]  # random mode's S3Gen (models/random_weights.py)


class ConfigError(RuntimeError):
    """A setting is missing or invalid; the message names the key and its variable."""


class _Section(BaseModel):
    model_config = {"extra": "forbid"}


class CheckpointSettings(_Section):
    """Where one model's weights are: a local folder, else its hub repository."""

    hf_repo_id: str
    dir: Path | None


ModelDtype = Literal["auto", "float32", "bfloat16", "float16"]


class _ModelSettings(_Section):
    source: Literal["auto", "huggingface", "local", "random"]
    dir: Path | None  # the original model's folder (VC reads its S3Gen from there too)
    device: Literal["auto", "cuda", "cpu", "mps"]
    dtype: ModelDtype = "auto"  # T3 and S3Gen's flow (models/precision.py)
    kv_cache: Literal["auto", "static", "dynamic"] = "auto"  # T3's keys and values (models/kv_rows.py)
    cuda_graphs: bool = True  # T3's decode step captured on CUDA with the static cache (models/step_graphs.py)
    hf_repo_id: str  # the original model's repository
    enabled: list[ModelName] = Field(list(MODEL_NAMES), min_length=1)
    default: ModelName = "original"
    random_seed: int
    random_t3_layers: int = Field(ge=1, le=30)
    random_s3gen: S3GenSize

    @field_validator("enabled", mode="before")
    @classmethod
    def _comma_separated(cls, names: object) -> object:
        """CHATTERBOX_MODELS="turbo,original" (a list in one variable)."""
        if isinstance(names, str) and not names.lstrip().startswith("["):
            return [name.strip() for name in names.split(",") if name.strip()]
        return names

    @model_validator(mode="after")
    def _default_is_enabled(self) -> _ModelSettings:
        if len(set(self.enabled)) != len(self.enabled):
            raise ValueError(f"model.enabled lists a model twice: {self.enabled}")
        if self.default not in self.enabled:
            raise ValueError(f"model.default is {self.default!r}, which model.enabled ({', '.join(self.enabled)}) does not list")
        return self

    def checkpoint(self, name: ModelName) -> CheckpointSettings:
        if name == "original":
            return CheckpointSettings(hf_repo_id=self.hf_repo_id, dir=self.dir)
        return getattr(self, name)


# A checkpoint section per model family besides the original (whose keys, model.dir and
# model.hf_repo_id, came first): model.multilingual, model.turbo, from the family table.
ModelSettings = create_model(
    "ModelSettings", __base__=_ModelSettings,
    **{name: (CheckpointSettings, CheckpointSettings(hf_repo_id=family.hub_repo_id, dir=None)) for name, family in FAMILIES.items() if name != "original"},
)


class TTSSettings(_Section):
    max_new_tokens: int = Field(ge=10, le=4000)
    max_chunk_chars: int = Field(ge=50, le=1000)
    crossfade_ms: int = Field(ge=0, le=1000)
    repetition_penalty: float = Field(ge=1.0, le=3.0)
    min_p: float = Field(ge=0.0, le=1.0)
    top_p: float = Field(gt=0.0, le=1.0)
    conditioning_cache_size: int = Field(ge=1, le=100_000)
    speed_factor: float = Field(ge=MIN_SPEED, le=MAX_SPEED)
    speed_factor_library: Literal["auto", "audiostretchy", "librosa", "torchaudio"]
    stream_first_chunk_chars: int = Field(ge=20, le=1000)
    stream_first_tokens: int = Field(ge=10, le=500)
    chunks_in_flight: int = Field(ge=1, le=256)
    max_pause_seconds: float = Field(gt=0, le=60)
    max_total_pause_seconds: float = Field(gt=0, le=600)


class RunnerSettings(_Section):
    batching: bool
    max_batch_size: int = Field(ge=2, le=256)  # BentoML refuses batchable APIs with batches of one
    max_latency_ms: int = Field(ge=1)
    workers: int = Field(ge=1, le=64)
    connection_max_age_seconds: float = Field(gt=0, le=86400)
    render_batch: Annotated[int, Field(ge=1, le=64)] | Literal["auto"] = "auto"  # whole renders in one S3Gen pass (runners/base.py)


class StorageSettings(_Section):
    backend: Literal["local", "s3"]
    dir: Path
    s3_bucket: str | None
    s3_prefix: str
    s3_endpoint_url: str | None
    s3_region: str | None

    @model_validator(mode="after")
    def _bucket_required_for_s3(self) -> StorageSettings:
        if self.backend == "s3" and not self.s3_bucket:
            raise ValueError("storage.backend is 's3' but S3_BUCKET is not set")
        return self


class LimitSettings(_Section):
    max_json_bytes: int = Field(ge=1024)
    max_upload_bytes: int = Field(ge=1024)
    voice_min_seconds: float = Field(gt=0)
    voice_max_seconds: float = Field(gt=0)
    vc_source_min_seconds: float = Field(gt=0)
    vc_source_max_seconds: float = Field(gt=0)
    max_archive_bytes: int = Field(ge=1024)
    max_archive_entries: int = Field(ge=1)
    max_archive_ratio: float = Field(ge=2)
    max_bulk_files: int = Field(ge=1)
    max_pending_generations: int = Field(ge=0)


class DatabaseSettings(_Section):
    url: str | None  # None: SQLite in the storage folder (db/engine.py)
    pool_size: int = Field(ge=1, le=200)
    connect_timeout_seconds: float = Field(gt=0)

    @field_validator("url")
    @classmethod
    def _known_engine(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:", "postgres:")):
            raise ValueError("DATABASE_URL must be sqlite:///path or postgresql://user:password@host:port/database")
        return url


class VoiceSettings(_Section):
    usage_flush_seconds: float = Field(gt=0)
    read_workers: int = Field(ge=1, le=128)


class AudioSettings(_Section):
    mp3_bitrate: str = Field(pattern=r"^\d{2,3}k$")
    opus_bitrate: str = Field(pattern=r"^\d{1,3}k$")
    aac_bitrate: str = Field(pattern=r"^\d{2,3}k$")
    sample_rate: int | None

    @field_validator("sample_rate")
    @classmethod
    def _known_rate(cls, rate: int | None) -> int | None:
        return check_sample_rate(rate)

    def bitrate(self, fmt: str) -> str | None:
        """The configured bitrate of a lossy format (None for lossless ones)."""
        return {"mp3": self.mp3_bitrate, "opus": self.opus_bitrate, "aac": self.aac_bitrate}.get(fmt)


class OutputSettings(_Section):
    retention_check_seconds: float = Field(gt=0)
    max_age_days: float = Field(ge=0)
    max_total_bytes: int = Field(ge=0)
    download_mode: Literal["proxy", "redirect"]
    redirect_seconds: int = Field(ge=1, le=7 * 24 * 3600)


class ConcatSettings(_Section):
    max_inputs: int = Field(ge=2, le=100_000)
    sync_max_seconds: float = Field(ge=0)
    max_output_seconds: float = Field(gt=0)
    max_upload_seconds: float = Field(gt=0)
    max_concurrent_jobs: int = Field(ge=1, le=64)
    max_queued_jobs: int = Field(ge=1)
    max_concurrent_sync: int = Field(ge=1, le=64)
    job_heartbeat_seconds: float = Field(gt=0, le=600)
    job_ttl_hours: float = Field(gt=0)


class RateLimitSettings(_Section):
    requests_per_second: float = Field(ge=0)
    burst: int = Field(ge=1)
    failed_auth_per_minute: float = Field(gt=0)
    failed_auth_burst: int = Field(ge=1)
    trust_forwarded_for: bool


class IdempotencySettings(_Section):
    ttl_hours: float = Field(gt=0)


class ShutdownSettings(_Section):
    drain_seconds: float = Field(ge=0, le=3600)


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"]


VoiceResolutionStep = Literal["library", "alias", "predefined", "extension", "default", "fallback"]


class OpenAISettings(_Section):
    model_map: dict[str, ModelName] = Field(min_length=1)
    voice_resolution: list[VoiceResolutionStep]
    voice_aliases: dict[str, str]
    predefined_voices_dir: Path | None
    default_voice: str | None
    fallback_voice: str | None
    store_outputs: bool

    @field_validator("voice_resolution")
    @classmethod
    def _no_repeats(cls, steps: list[str]) -> list[str]:
        if len(set(steps)) != len(steps):
            raise ValueError("each step may appear once")
        return steps


class RealtimeSettings(_Section):
    """The WebSocket that takes text as it is written (`/api/v1/tts/stream`): what one
    connection may hold and for how long."""

    max_buffered_chars: int = Field(ge=100, le=1_000_000)
    max_message_bytes: int = Field(ge=1024, le=16 * 1024 * 1024)
    idle_seconds: float = Field(gt=0)
    max_connection_seconds: float = Field(gt=0)
    outbox_bytes: int = Field(ge=16 * 1024)
    stalled_client_seconds: float = Field(gt=0)


class AuthSettings(_Section):
    api_keys: list[str]

    @field_validator("api_keys", mode="before")
    @classmethod
    def _comma_separated(cls, keys: object) -> object:
        """API_KEYS="k1,k2" (the usual way to pass a list in one variable)."""
        if isinstance(keys, str):
            return [key.strip() for key in keys.split(",") if key.strip()]
        return keys


class StudioSettings(_Section):
    enabled: bool


class _ContractEnvSource(PydanticBaseSettingsSource):
    """Reads the short contract names (``S3_BUCKET``...) into their nested keys."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        raise NotImplementedError  # __call__ builds the whole mapping at once

    def __call__(self) -> dict[str, Any]:
        values: dict[str, dict[str, str]] = {}
        for env_name, (section, key) in CONTRACT_ENV_NAMES.items():
            if (raw := os.environ.get(env_name)) is not None:
                values.setdefault(section, {})[key] = raw
        return values


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="ignore",
        nested_model_default_partial_update=True,
    )

    model: ModelSettings
    tts: TTSSettings
    runner: RunnerSettings
    storage: StorageSettings
    database: DatabaseSettings
    limits: LimitSettings
    audio: AudioSettings
    voices: VoiceSettings
    outputs: OutputSettings
    concat: ConcatSettings
    shutdown: ShutdownSettings
    logging: LoggingSettings
    openai: OpenAISettings
    realtime: RealtimeSettings
    auth: AuthSettings
    rate_limits: RateLimitSettings
    idempotency: IdempotencySettings
    studio: StudioSettings

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_file = Path(os.environ.get(f"{ENV_PREFIX}CONFIG_FILE", DEFAULT_CONFIG_FILE))
        return (
            init_settings,
            _ContractEnvSource(settings_cls),
            env_settings,
            YamlConfigSettingsSource(settings_cls, yaml_file=yaml_file),
        )


def _env_name_for(loc: tuple[str | int, ...]) -> str | None:
    if len(loc) < 2:
        return None  # a whole-section check: its message names the variables itself
    path = tuple(str(part) for part in loc[:2])
    for env_name, contract_path in CONTRACT_ENV_NAMES.items():
        if contract_path == path:
            return env_name
    return ENV_PREFIX + "__".join(part.upper() for part in path)


def load_settings() -> Settings:
    """Validate the configuration, turning pydantic's report into one readable error."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            key = ".".join(str(part) for part in error["loc"])
            env_name = _env_name_for(error["loc"])
            where = f"{key} (env {env_name})" if env_name else key
            problems.append(f"{where}: {error['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, loaded on first use."""
    return load_settings()
