"""Turbo's GPT-2 T3 decoded in batches against upstream's one-at-a-time
`T3.inference_turbo`, on the real class with random weights: the same seed gives the same
tokens, alone or in a left-padded batch of different voices, parameters and lengths."""

from __future__ import annotations

import pytest
import torch
from chatterbox.models.t3.modules.cond_enc import T3Cond
from chatterbox.tts_turbo import ChatterboxTurboTTS, punc_norm

from audio.decoding import decode
from harness.model_settings import random_model_settings
from harness.testdata import read_testdata
from models.families.turbo import TurboFamily
from models.kv_rows import StaticKV
from models.loader import load_tts
from models.t3_batch import TurboDecodeRequest
from models.t3_loop import decode_batch
from tests.loop_script import scripted_loop


@pytest.fixture(scope="module")
def model() -> ChatterboxTurboTTS:
    return load_tts(random_model_settings(), "turbo").model


@pytest.fixture(scope="module")
def voices(model: ChatterboxTurboTTS) -> dict[str, T3Cond]:
    """Turbo takes references over 5 s only: both test voices are."""
    return {name: TurboFamily(model).conditionals(decode(read_testdata(f"voice_{name}.wav"), 24_000).samples).t3 for name in ("alex", "bella")}


def text_tokens(model: ChatterboxTurboTTS, text: str) -> torch.Tensor:
    return model.tokenizer(punc_norm(text), return_tensors="pt").input_ids[0]


def upstream(model: ChatterboxTurboTTS, text: str, cond: T3Cond, seed: int, tokens: int, temperature: float, top_k: int, top_p: float, penalty: float) -> torch.Tensor:
    """`inference_turbo` draws from the global generator and returns its first token plus
    up to `max_gen_len` more."""
    torch.manual_seed(seed)
    with torch.inference_mode():
        return model.t3.inference_turbo(
            cond, text_tokens(model, text)[None], temperature=temperature, top_k=top_k, top_p=top_p, repetition_penalty=penalty, max_gen_len=tokens - 1
        )[0]


def request(model: ChatterboxTurboTTS, text: str, cond: T3Cond, seed: int, tokens: int, temperature: float, top_k: int, top_p: float, penalty: float) -> TurboDecodeRequest:
    return TurboDecodeRequest(
        text_tokens=text_tokens(model, text), cond=cond, generator=torch.Generator().manual_seed(seed), max_new_tokens=tokens,
        temperature=temperature, top_k=top_k, top_p=top_p, repetition_penalty=penalty,
    )


def test_one_request_decodes_the_tokens_upstream_does(model: ChatterboxTurboTTS, voices: dict[str, T3Cond]) -> None:
    case = ("Hello there [laugh], how are you?", voices["alex"], 3, 40, 0.8, 1000, 0.95, 1.2)
    [batched] = decode_batch(model.t3, [request(model, *case)])
    assert torch.equal(batched, upstream(model, *case))
    assert len(batched) == 40


def test_a_padded_mixed_batch_gives_each_request_its_own_tokens(model: ChatterboxTurboTTS, voices: dict[str, T3Cond]) -> None:
    cases = [
        ("Hello there.", voices["alex"], 3, 40, 0.8, 1000, 0.95, 1.2),
        ("A much longer sentence [sigh], which makes the others padded on the left.", voices["bella"], 7, 25, 1.1, 50, 0.8, 1.0),
        ("Short.", voices["alex"], 11, 55, 1.0, 0, 1.0, 1.5),  # no temperature, top-k or top-p processor at all
        ("Hello there.", voices["alex"], 4, 40, 0.8, 1000, 0.95, 1.2),  # same text and voice, another seed
    ]
    batched = decode_batch(model.t3, [request(model, *case) for case in cases])
    alone = [upstream(model, *case) for case in cases]
    assert [len(tokens) for tokens in batched] == [40, 25, 55, 40]  # each stops at its own cap; the others go on
    assert all(torch.equal(mine, theirs) for mine, theirs in zip(batched, alone, strict=True))
    assert not torch.equal(batched[0], batched[3])


def test_a_forced_stop_ends_one_row_and_leaves_the_others_untouched(model: ChatterboxTurboTTS, voices: dict[str, T3Cond]) -> None:
    long_case = ("Keep talking for a while.", voices["bella"], 5, 30, 0.8, 1000, 0.95, 1.2)
    short = request(model, "Stop soon.", voices["alex"], 6, 40, 0.8, 1000, 0.95, 1.2)
    short.stop_after = 4  # random weights never stop by themselves: random mode ends them like this
    together = decode_batch(model.t3, [short, request(model, *long_case)])
    assert len(together[0]) == 5 and together[0][-1].item() == model.t3.hp.stop_speech_token
    assert torch.equal(together[1], upstream(model, *long_case))


def test_requests_admitted_while_others_decode_get_their_own_tokens_in_either_cache(model: ChatterboxTurboTTS, voices: dict[str, T3Cond]) -> None:
    """Continuous batching on Turbo's GPT-2 T3 (one row a request, positions inside the
    transformer): requests joining a running loop (a longer prompt and a shorter one than its
    columns, and a late one; `tests/loop_script.py`) decode the tokens each decodes alone, in
    the dynamic cache and in a static one that starts too small for them."""
    cases = [
        ("A sentence [sigh] to start.", voices["bella"], 7, 60, 1.1, 50, 0.8, 1.0),
        ("Hello there.", voices["alex"], 3, 40, 0.8, 1000, 0.95, 1.2),
        ("A much longer sentence, which joins a loop with fewer columns than its prompt has.", voices["alex"], 5, 15, 0.8, 1000, 0.95, 1.2),
        ("Late.", voices["bella"], 9, 30, 0.8, 1000, 0.95, 1.2),
    ]
    dynamic, _ = scripted_loop(model.t3, [request(model, *case) for case in cases], None)
    kv = StaticKV(model.t3, capacity_rows=1, columns=64)
    static, _ = scripted_loop(model.t3, [request(model, *case) for case in cases], kv)
    assert [len(tokens) for tokens in dynamic] == [60, 40, 15, 30]
    assert all(torch.equal(tokens, upstream(model, *case)) for tokens, case in zip(dynamic, cases, strict=True))
    assert all(torch.equal(mine, theirs) for mine, theirs in zip(static, dynamic, strict=True))
    assert kv.capacity_rows == 3 and kv.columns > 64  # both grew
