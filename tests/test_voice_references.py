"""Voices by reference: what a runner reads from storage itself, when it asks for the audio
instead, and the conditioning cache it fills (one computation per voice, whatever the
exaggeration). The HTTP side (bytes on the wire, the resend) is in test_tts_api.py."""

from __future__ import annotations

import asyncio
import hashlib
import threading

import numpy as np
import pytest
from chatterbox.tts import ChatterboxTTS

from api.runner_voices import RunnerVoice, VoiceChangedError, VoicesInUse
from audio.decoding import decode
from audio.encoding import EncodeSpec, encode
from contract.formats import OutputFormat
from contract.runner_jobs import AudioPayload, ReferenceNeededError, RenderJob, TTSJob, VoiceReference, conditioning_samples
from contract.voice_layout import REFERENCE_SAMPLE_RATE, audio_keys
from harness.model_settings import engine_settings
from harness.testdata import read_testdata
from models.conditioning import LRUCache
from models.loader import Loaded
from models.tts_engine import TTSEngine
from models.voice_references import ReferenceReader
from storage import Storage


def stored_reference(storage: Storage, name: str, clip: str = "voice_alex.wav") -> VoiceReference:
    """A voice's reference written the way the library writes it; the job's slim reference."""
    samples = decode(read_testdata(clip), REFERENCE_SAMPLE_RATE).samples[: 3 * REFERENCE_SAMPLE_RATE]
    wav = encode(samples, REFERENCE_SAMPLE_RATE, EncodeSpec(format=OutputFormat.wav, sample_rate=REFERENCE_SAMPLE_RATE))
    content_hash = hashlib.sha256(wav).hexdigest()
    _, key = audio_keys(name, content_hash, "wav")
    storage.put(key, wav, "audio/wav")
    return VoiceReference(content_hash=content_hash, reference_key=key)


def test_the_reader_reads_stored_references_and_asks_for_the_rest(storage: Storage) -> None:
    reader = ReferenceReader(storage)
    voice = stored_reference(storage, "Alex")
    samples = reader.samples(voice)
    assert samples.dtype.name == "float32" and len(samples) == 3 * REFERENCE_SAMPLE_RATE
    assert (reader.from_storage, reader.sent) == (1, 0)
    unreadable = {
        "no key (a predefined or uploaded voice)": voice.model_copy(update={"reference_key": None}),
        "the key is gone (replaced or deleted)": voice.model_copy(update={"reference_key": voice.reference_key.replace("reference-", "reference-0")}),
        "another voice's audio under the key": voice.model_copy(update={"content_hash": "0" * 64}),
        "not a reference key": voice.model_copy(update={"reference_key": "voice-records/alex.json"}),
        "a path out of the voices folder": voice.model_copy(update={"reference_key": "voices/../outputs/reference-x.wav"}),
    }
    for case, job_voice in unreadable.items():
        with pytest.raises(ReferenceNeededError):
            reader.samples(job_voice)
        assert reader.from_storage == 1, case
    sent = voice.model_copy(update={"audio": AudioPayload.from_array(samples, REFERENCE_SAMPLE_RATE)})
    assert (reader.samples(sent) == samples).all() and reader.sent == 1
    assert ReferenceReader(None).samples(sent).size == samples.size


def test_references_are_trimmed_to_what_conditioning_reads() -> None:
    long = decode(read_testdata("voice_alex.wav"), REFERENCE_SAMPLE_RATE).samples
    assert len(conditioning_samples(long.repeat(10))) == 30 * REFERENCE_SAMPLE_RATE


def test_the_engine_conditions_once_per_voice_and_asks_for_audio_it_cannot_read(random_tts: Loaded[ChatterboxTTS], tmp_path) -> None:
    from storage.local import LocalStorage

    storage = LocalStorage(tmp_path / "store")
    engine = TTSEngine(random_tts, engine_settings(max_new_tokens=30), ReferenceReader(storage))
    voice = stored_reference(storage, "Alex")
    jobs = [TTSJob(text="Hello there.", voice=voice, exaggeration=exaggeration, seed=1) for exaggeration in (0.3, 0.5, 1.2)]
    decoded = asyncio.run(engine.decode(jobs))
    assert [result.error for result in decoded] == [None] * 3
    assert [result.conditioning_cache_hit for result in decoded] == [False, True, True]  # exaggeration is applied per job
    assert (engine.cache.misses, len(engine.cache), engine.references.from_storage) == (1, 1, 1)
    rendered = engine.render(RenderJob(job=jobs[0], speech_tokens=decoded[0].speech_tokens))
    assert rendered.audio is not None and engine.references.from_storage == 1  # the render found it cached

    other = stored_reference(storage, "Bella", "voice_bella.wav")
    storage.delete(other.reference_key)  # replaced since the API read its record
    [asked] = asyncio.run(engine.decode([TTSJob(text="Hello.", voice=other, seed=2)]))
    assert asked.needs_reference and asked.error and not asked.error_is_client_fault
    assert engine.render(RenderJob(job=TTSJob(text="Hello.", voice=other, seed=2), speech_tokens=[1, 2, 3])).needs_reference
    with_audio = other.model_copy(update={"audio": AudioPayload.from_array(decode(read_testdata("voice_bella.wav"), REFERENCE_SAMPLE_RATE).samples[: 3 * REFERENCE_SAMPLE_RATE], REFERENCE_SAMPLE_RATE)})
    [answered] = asyncio.run(engine.decode([TTSJob(text="Hello.", voice=with_audio, seed=2)]))
    assert answered.error is None and answered.speech_tokens and engine.references.sent == 1


def test_a_key_is_computed_once_however_many_ask_at_once() -> None:
    cache: LRUCache[str] = LRUCache(4)
    started, release = threading.Event(), threading.Event()
    calls: list[str] = []

    def compute() -> str:
        calls.append("computed")
        started.set()
        release.wait(timeout=30)
        return "conditionals"

    results: list[tuple[str, bool]] = []
    first = threading.Thread(target=lambda: results.append(cache.get_or_compute("voice", compute)))
    first.start()
    assert started.wait(timeout=30)
    waiters = [threading.Thread(target=lambda: results.append(cache.get_or_compute("voice", compute))) for _ in range(3)]
    for thread in waiters:
        thread.start()
    release.set()
    for thread in [first, *waiters]:
        thread.join(timeout=30)
    assert calls == ["computed"]
    assert sorted(results) == [("conditionals", False)] + [("conditionals", True)] * 3
    assert (cache.misses, cache.hits, len(cache)) == (1, 3, 1)


def test_a_failed_computation_fails_its_waiters_and_is_not_kept() -> None:
    cache: LRUCache[str] = LRUCache(4)
    started, release = threading.Event(), threading.Event()

    def failing() -> str:
        started.set()
        release.wait(timeout=30)
        raise ReferenceNeededError("unreadable")

    errors: list[BaseException] = []

    def ask() -> None:
        try:
            cache.get_or_compute("voice", failing)
        except ReferenceNeededError as exc:
            errors.append(exc)

    first = threading.Thread(target=ask)
    first.start()
    assert started.wait(timeout=30)
    second = threading.Thread(target=ask)
    second.start()
    release.set()
    first.join(timeout=30)
    second.join(timeout=30)
    assert len(errors) == 2 and len(cache) == 0
    assert cache.get_or_compute("voice", lambda: "computed again") == ("computed again", False)


def test_a_voice_in_use_is_forgotten_when_its_last_request_ends() -> None:
    forgotten: list[list[str]] = []

    async def forget(content_hashes: list[str]) -> None:
        forgotten.append(content_hashes)

    async def scenario() -> None:
        in_use = VoicesInUse(forget)
        async def not_needed() -> VoiceReference:
            raise AssertionError("no runner asked for the audio")

        speaking = RunnerVoice(VoiceReference(content_hash="a" * 64), not_needed)
        first, second = in_use.hold(speaking), in_use.hold(speaking)
        await in_use.forget(["a" * 64, "b" * 64])
        assert forgotten == [["b" * 64]]  # nobody speaks in b: at once
        first()
        first()  # a release is counted once
        await asyncio.sleep(0)
        assert forgotten == [["b" * 64]]
        second()
        await asyncio.sleep(0)  # the forget runs as a task of its own
        assert forgotten == [["b" * 64], ["a" * 64]]
        in_use.hold(None)()  # no voice (the built-in one): nothing to hold

    asyncio.run(scenario())


def test_a_request_never_switches_voice_after_speaking() -> None:
    replaced = VoiceReference(content_hash="c" * 64, reference_key="voices/x/reference-new.wav", audio=AudioPayload.from_array(np.zeros(10, dtype=np.float32), 24_000))

    async def load() -> VoiceReference:
        return replaced

    async def scenario() -> None:
        voice = RunnerVoice(VoiceReference(content_hash="a" * 64, reference_key="voices/x/reference-old.wav"), load)
        assert await voice.with_audio() == replaced  # nothing spoken yet: the voice as it is now
        assert voice.reference == replaced.by_reference()  # and later jobs name it
        spoken = RunnerVoice(VoiceReference(content_hash="a" * 64), load)
        spoken.spoken = True
        with pytest.raises(VoiceChangedError):
            await spoken.with_audio()

    asyncio.run(scenario())
