"""Random mode: utterances as long as saying their text takes (random weights never sample
T3's stop token), never applied to real weights; the small S3Gen that random mode uses by
default; and the full-size S3Gen end to end."""

from __future__ import annotations

import asyncio
import statistics
from dataclasses import replace

import pytest
import torch
from chatterbox.models.s3gen import S3Gen
from chatterbox.tts import ChatterboxTTS
from chatterbox.vc import ChatterboxVC

from audio.decoding import decode
from contract.runner_jobs import AudioPayload, RenderJob, TTSJob, VCJob, VCRenderJob, VoiceReference
from harness.model_settings import engine_settings, random_model_settings
from harness.testdata import read_testdata
from models.loader import Loaded, load_tts
from models.random_weights import MIN_UTTERANCE_TOKENS, build_random_s3gen, utterance_tokens
from models.tts_engine import TTSEngine
from models.vc_engine import VCEngine
from models.voice_references import ReferenceReader
from tests.audio_checks import voiced

SENTENCE = "The quick brown fox jumps over the lazy dog."
TEXTS = ["Hi.", "Hello there, friend.", SENTENCE, "A longer text, which takes a speaker quite a bit more time to say out loud."]


def voice() -> VoiceReference:
    samples = decode(read_testdata("voice_alex.wav"), 24_000).samples[:36_000]
    return VoiceReference(content_hash="alex-hash-0001", audio=AudioPayload.from_array(samples, 24_000))


def test_utterance_lengths_follow_the_text_with_a_natural_spread() -> None:
    lengths = [utterance_tokens(SENTENCE, seed) for seed in range(400)]
    assert utterance_tokens(SENTENCE, 7) == utterance_tokens(SENTENCE, 7)  # the seed decides
    assert statistics.median(lengths) == pytest.approx(len(SENTENCE) / 14 * 25, rel=0.05)  # 14 characters a second, 25 tokens a second
    deciles = statistics.quantiles(lengths, n=10)
    assert 1.2 < deciles[-1] / deciles[0] < 1.8  # speakers differ: the 90th percentile is 20-80 % longer than the 10th
    doubled = [utterance_tokens(f"{SENTENCE} {SENTENCE}", seed) for seed in range(400)]
    assert statistics.median(doubled) == pytest.approx(2 * statistics.median(lengths), rel=0.05)
    assert min(utterance_tokens("Hi.", seed) for seed in range(100)) == MIN_UTTERANCE_TOKENS


def test_random_weights_end_each_row_of_a_batch_after_its_own_length(random_tts: Loaded[ChatterboxTTS]) -> None:
    engine = TTSEngine(random_tts, engine_settings(), ReferenceReader(None))
    stop_token = random_tts.model.t3.hp.stop_speech_token
    jobs = [TTSJob(text=text, voice=voice(), seed=seed) for seed, text in enumerate(TEXTS)]
    results = asyncio.run(engine.decode(jobs))
    for job, result in zip(jobs, results, strict=True):
        assert result.error is None
        assert len(result.speech_tokens) == utterance_tokens(job.text, job.seed) + 1 and result.speech_tokens[-1] == stop_token
    assert len({len(result.speech_tokens) for result in results}) == len(jobs)  # the rows left the batch at different steps


@pytest.mark.parametrize("source", ["local", "huggingface"])
def test_real_weights_are_never_cut_short(random_tts: Loaded[ChatterboxTTS], source: str) -> None:
    """The same network loaded as real weights decides its own length: these random weights
    never stop, so it runs to the token ceiling."""
    assert not replace(random_tts, source=source).random_weights and random_tts.random_weights
    engine = TTSEngine(replace(random_tts, source=source), engine_settings(max_new_tokens=60), ReferenceReader(None))
    [result] = asyncio.run(engine.decode([TTSJob(text="Hi.", voice=voice(), seed=1)]))
    assert len(result.speech_tokens) == 60 > utterance_tokens("Hi.", 1)
    assert random_tts.model.t3.hp.stop_speech_token not in result.speech_tokens


def test_the_small_s3gen_is_upstreams_network_with_fewer_channels() -> None:
    with torch.device("meta"):  # the full layout, without its memory
        full = S3Gen()
    small = build_random_s3gen(0, "small")
    assert {type(module).__name__ for module in small.modules()} == {type(module).__name__ for module in full.modules()}
    assert sum(p.numel() for p in full.parameters()) > 8 * sum(p.numel() for p in small.parameters())
    assert type(small) is S3Gen


# --- the full-size S3Gen ----------------------------------------------------------------------


def test_full_size_models_speak_and_convert_end_to_end() -> None:
    """The test stacks use the small S3Gen; this runs the real checkpoint's layout through
    the same engines the runners use: text to watermarked speech, and speech converted to
    another voice (short clips: a full-size render costs seconds per second on a CPU; one
    full-size S3Gen built, as a VC runner loads the original's)."""
    settings = random_model_settings(t3_layers=2, s3gen="full")
    tts = load_tts(settings)
    assert sum(p.numel() for p in tts.model.s3gen.parameters()) > 250e6
    engine = TTSEngine(tts, engine_settings(), ReferenceReader(None))
    job = TTSJob(text="Hello there.", voice=voice(), seed=2)
    [decoded] = asyncio.run(engine.decode([job]))
    spoken = engine.render(RenderJob(job=job, speech_tokens=decoded.speech_tokens))
    assert len(decoded.speech_tokens) == utterance_tokens(job.text, job.seed) + 1
    assert spoken.audio is not None and spoken.audio.to_array().size / engine.sample_rate == pytest.approx(voiced(decoded.speech_tokens) / 25, abs=0.05)

    converter = VCEngine(ChatterboxVC(tts.model.s3gen, tts.device), engine_settings(), ReferenceReader(None))  # VC runs the original's S3Gen
    source = decode(read_testdata("source_speech_16k.wav"), 16_000).samples[:24_000]
    [tokens] = converter.tokenize_batch([VCJob(source=AudioPayload.from_array(source, 16_000))])
    assert len(tokens.speech_tokens) == 38  # 25 a second of source
    converted = converter.render(VCRenderJob(target_voice=voice(), speech_tokens=tokens.speech_tokens))
    assert converted.audio is not None and converted.audio.to_array().size / converter.sample_rate == pytest.approx(1.5, abs=0.1)
