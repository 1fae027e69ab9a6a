"""The TTS engine (what a runner calls) serving Turbo and Multilingual: each model's text
preparation, conditioning, batched decoding and rendering, on random weights of its own
architecture."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from audio.decoding import decode
from contract.families import ModelName
from contract.runner_jobs import AudioPayload, RenderJob, TTSJob, VoiceReference
from harness.model_settings import engine_settings, random_model_settings
from harness.testdata import read_testdata
from models.loader import load_tts
from models.random_weights import utterance_tokens
from models.tts_engine import TTSEngine
from models.voice_references import ReferenceReader
from tests.audio_checks import voiced

TURBO_SILENCE_TOKENS = 3  # upstream appends three silent frames before rendering


def voice(name: str, seconds: float | None = None) -> VoiceReference:
    samples = decode(read_testdata(f"voice_{name}.wav"), 24_000).samples
    if seconds is not None:
        samples = samples[: int(seconds * 24_000)]
    return VoiceReference(content_hash=f"{name}-{seconds}-hash", audio=AudioPayload.from_array(samples, 24_000))


@pytest.fixture(scope="module")
def engines() -> dict[ModelName, TTSEngine]:
    settings = random_model_settings()
    return {name: TTSEngine(load_tts(settings, name), engine_settings(), ReferenceReader(None)) for name in ("turbo", "multilingual")}


def decoded(engine: TTSEngine, jobs: list[TTSJob], *, check_alone: bool) -> list[list[int]]:
    """Each job's tokens from one batch; with `check_alone`, each equal to its tokens alone."""
    together = asyncio.run(engine.decode(jobs))
    for job, result in zip(jobs, together, strict=True):
        assert not result.error, result.error
        # random weights end at their plausible length, if they do not sample the stop token first (Turbo's random head sometimes does)
        assert len(result.speech_tokens) <= utterance_tokens(job.text, job.seed) + 1 and result.speech_tokens[-1] == engine.model.t3.hp.stop_speech_token
        if check_alone:
            assert result.speech_tokens == asyncio.run(engine.decode([job]))[0].speech_tokens
    return [result.speech_tokens for result in together]


def test_turbo_speaks_tags_in_batches_and_renders_with_its_silence(engines: dict[ModelName, TTSEngine]) -> None:
    engine = engines["turbo"]
    jobs = [
        TTSJob(text="Oh, that's hilarious! [chuckle] Anyway.", voice=voice("alex"), seed=1),
        TTSJob(text="A longer line [sigh], padded on the left of nothing at all today.", voice=voice("bella"), temperature=1.1, seed=2),
        TTSJob(text="Plain words.", voice=voice("alex"), seed=3),
    ]
    tokens = decoded(engine, jobs, check_alone=True)
    rendered = engine.render(RenderJob(job=jobs[0], speech_tokens=tokens[0]))
    assert rendered.audio is not None and engine.sample_rate == 24_000
    seconds = rendered.audio.to_array().size / engine.sample_rate
    assert seconds == pytest.approx((voiced(tokens[0]) + TURBO_SILENCE_TOKENS) / 25, abs=0.05)
    again = engine.render(RenderJob(job=jobs[0], speech_tokens=tokens[0]))
    assert again.audio is not None and np.array_equal(rendered.audio.to_array(), again.audio.to_array())  # same seed, same audio


def test_turbo_refuses_a_reference_of_five_seconds_or_less(engines: dict[ModelName, TTSEngine]) -> None:
    [result] = asyncio.run(engines["turbo"].decode([TTSJob(text="Too short a voice.", voice=voice("alex", 4.0), seed=1)]))
    assert result.error_is_client_fault and "needs more than 5 s" in (result.error or "")


def test_multilingual_speaks_each_language_with_its_own_tokens(engines: dict[ModelName, TTSEngine]) -> None:
    engine = engines["multilingual"]
    jobs = [
        TTSJob(text="Bonjour à tous, comment allez-vous ?", voice=voice("alex"), language="fr", seed=1),
        TTSJob(text="你好，世界。", voice=voice("bella"), language="zh", seed=2),
        TTSJob(text="こんにちは。", voice=voice("alex"), language="ja", seed=3),
        TTSJob(text="Hello there.", voice=voice("alex"), seed=4),
    ]
    tokens = decoded(engine, jobs, check_alone=False)  # the guided loop's batch-equals-alone proof: tests/test_batched_t3.py
    same_text = [TTSJob(text="Hola amigo.", voice=voice("alex"), language=code, seed=5) for code in ("es", "it")]
    spanish, italian = asyncio.run(engine.decode(same_text))
    assert spanish.text_tokens == italian.text_tokens and spanish.speech_tokens != italian.speech_tokens  # the language token steers T3
    rendered = engine.render(RenderJob(job=jobs[1], speech_tokens=tokens[1]))
    assert rendered.audio is not None
    assert rendered.audio.to_array().size / engine.sample_rate == pytest.approx(voiced(tokens[1]) / 25, abs=0.05)
