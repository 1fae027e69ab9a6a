"""The VC engine on the real ChatterboxVC classes with random weights: sources of different
lengths tokenized in one padded pass give each job the tokens, and after its render the
audio, it gets alone; a job the model cannot serve fails by itself."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch
from chatterbox.vc import ChatterboxVC

from audio.decoding import decode
from contract.runner_jobs import AudioPayload, VCJob, VCRenderJob, VoiceReference
from harness.model_settings import engine_settings, random_model_settings
from harness.testdata import read_testdata
from models.loader import load_vc
from models.vc_engine import VCEngine
from models.voice_references import ReferenceReader


@pytest.fixture(scope="module")
def model() -> Iterator[ChatterboxVC]:
    yield load_vc(random_model_settings()).model


def voice(name: str, filename: str) -> VoiceReference:
    samples = decode(read_testdata(filename), 24_000).samples[:36_000]
    return VoiceReference(content_hash=f"{name}-hash-0001", audio=AudioPayload.from_array(samples, 24_000))


def source(seconds: float, offset: float = 0.0) -> AudioPayload:
    samples = decode(read_testdata("source_speech_16k.wav"), 16_000).samples
    return AudioPayload.from_array(samples[int(offset * 16_000) : int((offset + seconds) * 16_000)], 16_000)


def test_a_mixed_batch_gives_each_job_its_own_audio_and_isolates_a_failure(model: ChatterboxVC) -> None:
    engine = VCEngine(model, engine_settings(), ReferenceReader(None))
    jobs = [
        (VCJob(source=source(1.0)), voice("alex", "voice_alex.wav")),
        (VCJob(source=source(1.6, offset=0.3)), voice("bella", "voice_bella.wav")),  # longer: the others are padded
        (VCJob(source=source(0.8)), None),  # random weights have no built-in voice
        (VCJob(source=source(1.0)), voice("bella", "voice_bella.wav")),  # same source as the first, another target
    ]
    tokenized = engine.tokenize_batch([job for job, _ in jobs])
    assert [len(result.speech_tokens) for result in tokenized] == [25, 40, 20, 25]  # 25 tokens a second of source
    assert tokenized[0].speech_tokens == tokenized[3].speech_tokens
    rendered = [engine.render(VCRenderJob(target_voice=target, speech_tokens=result.speech_tokens)) for (_, target), result in zip(jobs, tokenized, strict=True)]
    assert rendered[2].error and rendered[2].error_is_client_fault and rendered[2].audio is None
    assert rendered[3].conditioning_cache_hit and not rendered[1].conditioning_cache_hit
    audio = [result.audio.to_array() if result.audio else None for result in rendered]
    assert not np.array_equal(audio[0], audio[3])  # the target voice matters
    for (job, target), batched in zip(jobs, audio, strict=True):
        if batched is None:
            continue
        [alone] = engine.tokenize_batch([job])
        again = engine.render(VCRenderJob(target_voice=target, speech_tokens=alone.speech_tokens))
        assert again.audio is not None and np.array_equal(again.audio.to_array(), batched)  # same source and target, same audio
        assert 0.5 * job.source.to_array().size / 16_000 < batched.size / engine.sample_rate <= job.source.to_array().size / 16_000 + 0.05
    assert engine.jobs_done == 2 * len(jobs) - 1  # every render, the failed one included
    assert (engine.cache.hits, engine.cache.misses) == (4, 2)


def test_batched_tokenizing_gives_the_tokens_of_each_source_alone(model: ChatterboxVC) -> None:
    sources = [source(seconds, offset).to_array() for seconds, offset in ((1.2, 0.0), (0.6, 0.5), (2.0, 0.1))]
    engine = VCEngine(model, engine_settings(), ReferenceReader(None))
    with torch.inference_mode():
        batched = engine._tokenize(sources)
        alone = [model.s3gen.tokenizer([torch.from_numpy(one)])[0][0] for one in sources]
    assert [len(tokens) for tokens in batched] == [30, 15, 50]
    assert all(torch.equal(mine, theirs) for mine, theirs in zip(batched, alone, strict=True))
