"""Service configuration: `config/default.yaml` overridden by environment variables."""

from config.settings import (
    AudioSettings,
    ConcatSettings,
    ConfigError,
    LimitSettings,
    ModelSettings,
    OutputSettings,
    RunnerSettings,
    Settings,
    StorageSettings,
    TTSSettings,
    VoiceSettings,
    get_settings,
)

__all__ = [
    "AudioSettings",
    "ConcatSettings",
    "ConfigError",
    "LimitSettings",
    "ModelSettings",
    "OutputSettings",
    "RunnerSettings",
    "Settings",
    "StorageSettings",
    "TTSSettings",
    "VoiceSettings",
    "get_settings",
]
