"""The batched T3 decoder against upstream's one-at-a-time `T3.inference`, on the real T3
class with random weights: the same seed gives the same tokens, alone or in a padded batch
of different voices, parameters and lengths, or joining a loop that is already running; and
the scheduler that runs one continuous loop per model (`models/decode_scheduler.py`):
requests join it mid-way, leave it as they stop or hang up, fail alone, stop at a drain's end."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from chatterbox.tts import ChatterboxTTS, Conditionals, punc_norm
from prometheus_client import REGISTRY

from audio.decoding import decode
from contract.runner_jobs import AudioPayload, RenderJob, TTSJob, VoiceReference
from harness.model_settings import engine_settings
from harness.processes import wait_until
from harness.testdata import read_testdata
from lifecycle.drain import ShuttingDownError
from models.conditioning import with_exaggeration
from models.decode_scheduler import DecodeScheduler
from models.families.original import OriginalFamily
from models.kv_rows import PROMPT_COLUMNS, KVPlan, StaticKV, kv_plan
from models.loader import Loaded
from models.random_weights import utterance_tokens
from models.t3_batch import DecodeRequest
from models.t3_loop import decode_batch
from models.tts_engine import TTSEngine
from models.voice_references import ReferenceReader
from tests.audio_checks import voiced
from tests.loop_script import scripted_loop

REFERENCE_SAMPLES = 36_000  # 1.5 s at 24 kHz


@pytest.fixture(scope="module")
def model(random_tts: Loaded[ChatterboxTTS]) -> ChatterboxTTS:
    return random_tts.model


@pytest.fixture(scope="module")
def voices(model: ChatterboxTTS) -> dict[str, Conditionals]:
    alex = decode(read_testdata("voice_alex.wav"), 24_000).samples[:REFERENCE_SAMPLES]
    bella = decode(read_testdata("voice_bella.wav"), 24_000).samples[:REFERENCE_SAMPLES]
    return {"alex": with_exaggeration(OriginalFamily(model).conditionals(alex), 0.5, model.device), "bella": with_exaggeration(OriginalFamily(model).conditionals(bella), 0.9, model.device)}


def text_tokens(model: ChatterboxTTS, text: str) -> torch.Tensor:
    tokens = model.tokenizer.text_to_tokens(punc_norm(text)).to(model.device)
    return F.pad(F.pad(tokens, (1, 0), value=model.t3.hp.start_text_token), (0, 1), value=model.t3.hp.stop_text_token)[0]


def upstream(model: ChatterboxTTS, text: str, conds: Conditionals, seed: int, tokens: int, cfg_weight: float, temperature: float) -> torch.Tensor:
    torch.manual_seed(seed)
    pair = torch.stack([text_tokens(model, text)] * 2)
    with torch.inference_mode():
        return model.t3.inference(
            t3_cond=conds.t3, text_tokens=pair, max_new_tokens=tokens, temperature=temperature, cfg_weight=cfg_weight, repetition_penalty=1.2, min_p=0.05, top_p=1.0
        )[0]


def request(model: ChatterboxTTS, text: str, conds: Conditionals, seed: int, tokens: int, cfg_weight: float, temperature: float) -> DecodeRequest:
    return DecodeRequest(
        text_tokens=text_tokens(model, text), cond=conds.t3, generator=torch.Generator().manual_seed(seed),
        max_new_tokens=tokens, cfg_weight=cfg_weight, temperature=temperature,
    )


def test_one_request_decodes_the_tokens_upstream_does(model: ChatterboxTTS, voices: dict[str, Conditionals]) -> None:
    case = ("Hello there.", voices["alex"], 3, 40, 0.5, 0.8)
    [batched] = decode_batch(model.t3, [request(model, *case)])
    assert torch.equal(batched, upstream(model, *case))
    assert len(batched) == 40  # random weights rarely stop: the token cap ends it


def test_a_padded_mixed_batch_gives_each_request_its_own_tokens(model: ChatterboxTTS, voices: dict[str, Conditionals]) -> None:
    cases = [
        ("Hello there.", voices["alex"], 3, 40, 0.5, 0.8),
        ("A much longer sentence, which makes the others padded on the left.", voices["bella"], 7, 25, 0.3, 1.1),
        ("Short.", voices["alex"], 11, 55, 0.0, 0.8),  # no guidance: the unconditional row is unused
        ("Hello there.", voices["alex"], 4, 40, 0.5, 0.8),  # same text and voice, another seed
    ]
    batched = decode_batch(model.t3, [request(model, *case) for case in cases])
    alone = [upstream(model, *case) for case in cases]
    assert [len(tokens) for tokens in batched] == [40, 25, 55, 40]  # each stops at its own cap; the others go on
    assert all(torch.equal(mine, theirs) for mine, theirs in zip(batched, alone, strict=True))
    assert not torch.equal(batched[0], batched[3])


def test_a_request_that_stops_leaves_the_others_untouched(model: ChatterboxTTS, voices: dict[str, Conditionals]) -> None:
    """A row ending early is dropped from the cache; the rest must not notice."""
    long_case = ("Keep talking for a while.", voices["bella"], 5, 45, 0.5, 0.8)
    short_case = ("Stop soon.", voices["alex"], 6, 3, 0.5, 0.8)
    together = decode_batch(model.t3, [request(model, *short_case), request(model, *long_case)])
    assert len(together[0]) == 3
    assert torch.equal(together[1], decode_batch(model.t3, [request(model, *long_case)])[0])
    assert decode_batch(model.t3, []) == []


def test_engine_batch_matches_each_job_alone_and_isolates_a_failure(random_tts: Loaded[ChatterboxTTS]) -> None:
    """Through the engine the runner calls: a mixed batch (voices, parameters, lengths) gives
    each job the tokens, and after its render the audio, it gets alone; each random-weight
    utterance ends after its own plausible length, so rows leave the batch at different
    times; a job the model cannot serve (no voice, and random weights have no built-in one)
    fails by itself."""
    engine = TTSEngine(random_tts, engine_settings(), ReferenceReader(None))
    stop = random_tts.model.t3.hp.stop_speech_token
    alex = decode(read_testdata("voice_alex.wav"), 24_000).samples[:REFERENCE_SAMPLES]
    bella = decode(read_testdata("voice_bella.wav"), 24_000).samples[:REFERENCE_SAMPLES]
    voice = {name: VoiceReference(content_hash=f"{name}-hash-0001", audio=AudioPayload.from_array(samples, 24_000)) for name, samples in (("alex", alex), ("bella", bella))}
    jobs = [
        TTSJob(text="Hello there.", voice=voice["alex"], seed=1),
        TTSJob(text="A longer text, which makes the others padded on the left of the batch.", voice=voice["bella"], exaggeration=0.8, cfg_weight=0.3, seed=2),
        TTSJob(text="No voice at all.", voice=None, seed=3),
        TTSJob(text="Hot and cold.", voice=voice["alex"], temperature=1.2, seed=4),
    ]
    together = asyncio.run(engine.decode(jobs))
    assert together[2].error and together[2].error_is_client_fault and not together[2].speech_tokens
    assert [result.conditioning_cache_hit for result in together] == [False, False, False, True]
    rendered = {}
    for job, result in zip(jobs, together, strict=True):
        if job.voice is None:
            continue
        [alone] = asyncio.run(engine.decode([job]))
        assert result.speech_tokens == alone.speech_tokens and len(alone.speech_tokens) == utterance_tokens(job.text, job.seed) + 1
        assert alone.speech_tokens[-1] == stop and stop not in alone.speech_tokens[:-1]
        assert result.text_tokens == alone.text_tokens > 2
        rendered[job.seed] = engine.render(RenderJob(job=job, speech_tokens=result.speech_tokens))
        again = engine.render(RenderJob(job=job, speech_tokens=alone.speech_tokens))
        assert rendered[job.seed].audio is not None and again.audio is not None
        assert np.array_equal(rendered[job.seed].audio.to_array(), again.audio.to_array())  # same seed, same audio
        seconds = rendered[job.seed].audio.to_array().size / engine.sample_rate
        assert seconds == pytest.approx(voiced(alone.speech_tokens) / 25, abs=0.05)  # 25 speech tokens a second
    assert len({len(result.speech_tokens) for result in together if not result.error}) == 3  # each row ended at its own time
    assert not np.array_equal(rendered[1].audio.to_array()[:1000], rendered[4].audio.to_array()[:1000])
    assert engine.jobs_done == 1 + 2 * 3  # the failed decode, and every render
    assert (engine.cache.hits, engine.cache.misses) == (1 + 3, 2)  # the batch, then each job alone; renders are not counted


def test_a_render_that_fails_reports_its_own_error(random_tts: Loaded[ChatterboxTTS]) -> None:
    engine = TTSEngine(random_tts, engine_settings(), ReferenceReader(None))
    result = engine.render(RenderJob(job=TTSJob(text="No voice.", voice=None, seed=1), speech_tokens=[1, 2, 3]))
    assert result.error and result.error_is_client_fault and result.audio is None


def loop_counter(name: str) -> float:
    return REGISTRY.get_sample_value(f"chatterbox_t3_loop_{name}_total") or 0.0


def wait_for_steps(scheduler: DecodeScheduler, steps: int) -> None:
    wait_until(lambda: scheduler.steps >= steps, 120, f"{steps} steps of the loop")


def test_requests_admitted_while_others_decode_get_their_own_tokens_in_either_cache(model: ChatterboxTTS, voices: dict[str, Conditionals]) -> None:
    """Continuous batching: requests that join a running loop (`tests/loop_script.py`: two at
    once, one with a prompt longer than the loop's columns so far, so the running rows move
    right, one shorter, so it is padded; rows leaving from the middle; a late one) decode
    exactly the tokens each decodes alone, and so does the request already running. The
    same in a static cache too small for the script (slots grow, the padding all rows share
    is cut when the columns run out), and again in the same cache reused, stale slots and all."""
    cases = [
        ("A sentence to start.", voices["bella"], 7, 60, 0.3, 1.1),
        ("Hello there.", voices["alex"], 3, 40, 0.5, 0.8),  # leaves from the middle of the loop's rows
        ("A much longer sentence, which joins a loop with fewer columns.", voices["alex"], 5, 15, 0.5, 0.8),
        ("Late.", voices["bella"], 9, 30, 0.0, 0.8),  # no guidance: the unconditional row is unused
    ]
    dynamic, _ = scripted_loop(model.t3, [request(model, *case) for case in cases], None)
    assert [len(tokens) for tokens in dynamic] == [60, 40, 15, 30]
    assert all(torch.equal(tokens, upstream(model, *case)) for tokens, case in zip(dynamic, cases, strict=True))
    kv = StaticKV(model.t3, capacity_rows=2, columns=128)
    static, unbounded = scripted_loop(model.t3, [request(model, *case) for case in cases], kv)
    assert all(torch.equal(mine, theirs) for mine, theirs in zip(static, dynamic, strict=True))
    assert kv.capacity_rows == 6 and kv.columns == 128 < unbounded  # slots grew; columns were cut to fit
    again, _ = scripted_loop(model.t3, [request(model, *case) for case in cases], kv)
    assert all(torch.equal(mine, theirs) for mine, theirs in zip(again, dynamic, strict=True))


def test_kv_plan_is_static_with_graphs_on_cuda_and_dynamic_elsewhere() -> None:
    assert kv_plan("auto", True, "cuda", 1000) == KVPlan(static=True, graphs=True, columns=1000 + PROMPT_COLUMNS)
    assert kv_plan("auto", False, "cuda", 500) == KVPlan(static=True, graphs=False, columns=500 + PROMPT_COLUMNS)
    assert kv_plan("auto", True, "cpu", 1000) == KVPlan(static=False, graphs=False, columns=1000 + PROMPT_COLUMNS)
    assert kv_plan("static", True, "cpu", 1000).static and not kv_plan("static", True, "cpu", 1000).graphs  # graphs are CUDA's
    assert not kv_plan("dynamic", True, "cuda", 1000).static


def test_a_request_that_arrives_mid_loop_joins_it_and_leaves_first(model: ChatterboxTTS, voices: dict[str, Conditionals]) -> None:
    """The scheduler admits a request that arrives while another decodes into the running
    loop (it does not wait for the loop to end), hands back its tokens as soon as it stops,
    while the long one still decodes, and both get the tokens they get alone; so does a
    request in a later loop. With a static cache, as on a GPU: the same buffers for every
    loop, grown from too few columns to fit (the scheduler's other tests run the dynamic one)."""
    long = ("A long sentence that keeps the loop busy.", voices["bella"], 11, 120, 0.4, 0.9)
    short = ("Hi there.", voices["alex"], 12, 10, 0.5, 0.8)
    scheduler = DecodeScheduler(model.t3, capacity=4, kv=KVPlan(static=True, columns=64))
    joins_before = loop_counter("joins")
    [long_future] = scheduler.submit([request(model, *long)])
    wait_for_steps(scheduler, 5)
    [short_future] = scheduler.submit([request(model, *short)])
    short_tokens = short_future.result(timeout=300)
    assert not long_future.done()  # the short one did not wait for the long one's loop
    assert loop_counter("joins") - joins_before == 1
    assert torch.equal(short_tokens, decode_batch(model.t3, [request(model, *short)])[0])
    assert torch.equal(long_future.result(timeout=300), decode_batch(model.t3, [request(model, *long)])[0])
    [again] = scheduler.submit([request(model, *short)])
    assert torch.equal(again.result(timeout=300), short_tokens)


def test_hung_up_requests_leave_the_loop_and_queued_ones_never_join(model: ChatterboxTTS, voices: dict[str, Conditionals]) -> None:
    """With room for one request, a second one queues; both callers hang up (their futures
    are cancelled): the running one leaves at the next step and the queued one is never
    admitted, so a third request is decoded at once, long before either would have ended."""
    case = ("Nobody will hear this sentence.", voices["alex"], 13, 300, 0.5, 0.8)
    scheduler = DecodeScheduler(model.t3, capacity=1)
    cancelled_before = loop_counter("cancellations")
    running, queued = scheduler.submit([request(model, *case)]), scheduler.submit([request(model, *case)])
    wait_for_steps(scheduler, 3)
    assert queued[0].cancel() and running[0].cancel()
    after = ("Next, please.", voices["bella"], 14, 8, 0.5, 0.8)
    [tokens] = [future.result(timeout=300) for future in scheduler.submit([request(model, *after)])]
    assert scheduler.steps < 100  # neither cancelled request went on decoding before it
    assert loop_counter("cancellations") - cancelled_before == 2
    assert torch.equal(tokens, decode_batch(model.t3, [request(model, *after)])[0])


def test_a_request_that_breaks_the_loop_fails_alone(model: ChatterboxTTS, voices: dict[str, Conditionals]) -> None:
    """A request the model cannot run (its text tokens are past the vocabulary) fails the joint
    prefill; the loop's requests are decoded again one by one, so only it fails and the
    other gets its own tokens."""
    good = ("Still spoken.", voices["alex"], 15, 12, 0.5, 0.8)
    broken = request(model, *good)
    broken.text_tokens = broken.text_tokens + model.t3.hp.text_tokens_dict_size
    scheduler = DecodeScheduler(model.t3, capacity=4)
    fine, failed = scheduler.submit([request(model, *good), broken])
    assert torch.equal(fine.result(timeout=300), decode_batch(model.t3, [request(model, *good)])[0])
    assert isinstance(failed.exception(timeout=300), IndexError)


def test_a_drain_that_ends_stops_the_loop_and_fails_the_queue(model: ChatterboxTTS, voices: dict[str, Conditionals]) -> None:
    case = ("Cut short by a shutdown.", voices["bella"], 16, 300, 0.5, 0.8)
    stop = threading.Event()
    scheduler = DecodeScheduler(model.t3, capacity=1, stop=stop)
    running, queued = scheduler.submit([request(model, *case), request(model, *case)])
    wait_for_steps(scheduler, 2)
    stop.set()
    assert isinstance(running.exception(timeout=300), ShuttingDownError)
    assert isinstance(queued.exception(timeout=300), ShuttingDownError)
    assert scheduler.steps < 100
