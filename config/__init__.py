"""Service configuration: `config/default.yaml` overridden by environment variables."""

from config.settings import (
    AudioSettings,
    AuthSettings,
    ConcatSettings,
    ConfigError,
    DatabaseSettings,
    LimitSettings,
    ModelSettings,
    OpenAISettings,
    OutputSettings,
    RealtimeSettings,
    RunnerSettings,
    Settings,
    StorageSettings,
    TTSSettings,
    VoiceSettings,
    get_settings,
)

__all__ = [
    "AudioSettings",
    "AuthSettings",
    "ConcatSettings",
    "ConfigError",
    "DatabaseSettings",
    "LimitSettings",
    "ModelSettings",
    "OpenAISettings",
    "OutputSettings",
    "RealtimeSettings",
    "RunnerSettings",
    "Settings",
    "StorageSettings",
    "TTSSettings",
    "VoiceSettings",
    "get_settings",
]
