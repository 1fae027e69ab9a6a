"""Settings for models and engines built inside a test or benchmark process (the served
stacks get theirs from the environment: `harness.stacks`)."""

from __future__ import annotations

from config import ModelSettings, TTSSettings
from config.settings import S3GenSize


def engine_settings(max_new_tokens: int = 1000) -> TTSSettings:
    """TTS settings for engines built directly in tests."""
    return TTSSettings(
        max_new_tokens=max_new_tokens, max_chunk_chars=50, crossfade_ms=30, repetition_penalty=1.2, min_p=0.05, top_p=1.0,
        conditioning_cache_size=8, speed_factor=1.0, speed_factor_library="auto", stream_first_chunk_chars=20, stream_first_tokens=25, chunks_in_flight=4,
        max_pause_seconds=10, max_total_pause_seconds=60,
    )


def random_model_settings(t3_layers: int = 1, s3gen: S3GenSize = "small") -> ModelSettings:
    """Random weights on the CPU, for models built in the test process (one T3 layer and the
    small S3Gen unless a test needs more)."""
    return ModelSettings(source="random", dir=None, device="cpu", hf_repo_id="unused", random_seed=0, random_t3_layers=t3_layers, random_s3gen=s3gen)
