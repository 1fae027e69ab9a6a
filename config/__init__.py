"""Service configuration: `config/default.yaml` overridden by environment variables."""

from config.settings import (
    AudioSettings,
    ConfigError,
    LimitSettings,
    ModelSettings,
    RunnerSettings,
    Settings,
    StorageSettings,
    TTSSettings,
    VoiceSettings,
    get_settings,
)

__all__ = [
    "AudioSettings",
    "ConfigError",
    "LimitSettings",
    "ModelSettings",
    "RunnerSettings",
    "Settings",
    "StorageSettings",
    "TTSSettings",
    "VoiceSettings",
    "get_settings",
]
