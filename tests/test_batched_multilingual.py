"""The multilingual T3 decoded in batches against upstream's one-at-a-time `T3.inference`,
with its alignment stopping rule, on the real class with random weights.

The rule reads attention heads in layers 9, 12 and 13, so this T3 has 14 layers (with a
narrow feed-forward, to stay quick). Random weights never want to stop, so the speech head
is given a strong bias towards the stop token: without the rule every request would stop at
its first token; with it, the stop token is held back until the alignment reaches the end of
the text, which happens at a different step for each request, read from its own rows of the
batch's attention maps."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from chatterbox.models.t3 import T3
from chatterbox.models.t3.llama_configs import LLAMA_520M_CONFIG_DICT, LLAMA_CONFIGS
from chatterbox.models.t3.modules.cond_enc import T3Cond
from chatterbox.models.t3.modules.t3_config import T3Config
from chatterbox.models.tokenizers import MTLTokenizer

from models.families.multilingual import multilingual_tokenizer
from models.kv_rows import StaticKV
from models.t3_alignment import has_aligned_heads
from models.t3_batch import DecodeRequest
from tests.loop_script import scripted_loop

STOP_BIAS = 12.0  # logits: the stop token wins at once unless the rule holds it back
TOKEN_CAP = 80


@pytest.fixture(scope="module")
def t3() -> T3:
    LLAMA_CONFIGS.setdefault("Llama_520M_14_narrow_layers", {**LLAMA_520M_CONFIG_DICT, "num_hidden_layers": 14, "intermediate_size": 256})
    config = T3Config.multilingual()
    config.llama_config_name = "Llama_520M_14_narrow_layers"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        model = T3(config).eval()
        head = torch.nn.Linear(model.speech_head.in_features, model.speech_head.out_features)
    with torch.no_grad():
        head.weight.copy_(model.speech_head.weight)
        head.bias.zero_()
        head.bias[config.stop_speech_token] = STOP_BIAS
    model.speech_head = head
    assert has_aligned_heads(model)
    return model


@pytest.fixture(scope="module")
def tokenizer(t3: T3) -> MTLTokenizer:
    return multilingual_tokenizer(t3.hp)


@pytest.fixture(scope="module")
def cond() -> T3Cond:
    generator = torch.Generator().manual_seed(0)
    prompt = torch.randint(0, 6561, (1, 150), generator=generator)
    return T3Cond(speaker_emb=torch.randn(1, 256, generator=generator), cond_prompt_speech_tokens=prompt, emotion_adv=0.5 * torch.ones(1, 1, 1))


def text_tokens(t3: T3, tokenizer: MTLTokenizer, text: str, language: str) -> torch.Tensor:
    tokens = tokenizer.text_to_tokens(text, language_id=language)
    return F.pad(F.pad(tokens, (1, 0), value=t3.hp.start_text_token), (0, 1), value=t3.hp.stop_text_token)[0]


def upstream(t3: T3, cond: T3Cond, request: DecodeRequest, seed: int, temperature: float) -> torch.Tensor:
    torch.manual_seed(seed)
    pair = torch.stack([request.text_tokens] * 2)
    with torch.inference_mode():
        return t3.inference(t3_cond=cond, text_tokens=pair, max_new_tokens=TOKEN_CAP, temperature=temperature, cfg_weight=0.5, repetition_penalty=2.0, min_p=0.05, top_p=1.0)[0]


def test_requests_admitted_while_others_decode_stop_where_they_stop_alone_in_either_cache(t3: T3, tokenizer: MTLTokenizer, cond: T3Cond) -> None:
    """A mixed batch of English, French and Japanese under continuous batching: each
    request's analyzer keeps reading its own rows' maps though rows join (padding the running
    ones, or being padded) and leave, through the scripted loop of `tests/loop_script.py`, and
    each request stops where upstream stops it alone, at a step of its own; the same in a
    static cache (whose maps span its columns: each row's are cut to its own, up to the
    shared column)."""
    cases = [
        ("Hi, friend.", "en", 0, 0.8),  # running when the others join
        ("Bonjour.", "fr", 1, 0.8),  # a shorter prompt than the loop's columns
        ("A longer sentence joins it.", "en", 3, 0.8),  # a longer one: the running rows move right
        ("日本語です。", "ja", 2, 0.5),  # joins late
    ]

    def requests() -> list[DecodeRequest]:
        return [
            DecodeRequest(
                text_tokens=text_tokens(t3, tokenizer, text, language), cond=cond, generator=torch.Generator().manual_seed(seed),
                max_new_tokens=TOKEN_CAP, temperature=temperature, repetition_penalty=2.0,
            )
            for text, language, seed, temperature in cases
        ]

    dynamic, _ = scripted_loop(t3, requests(), None)  # first: upstream switches the whole model to eager attention
    static, _ = scripted_loop(t3, requests(), StaticKV(t3, capacity_rows=8, columns=256))
    for tokens, request, (_, _, seed, temperature) in zip(dynamic, requests(), cases, strict=True):
        assert tokens[-1].item() == t3.hp.stop_speech_token  # each stopped by itself ...
        assert torch.equal(tokens, upstream(t3, cond, request, seed, temperature))
    lengths = [len(tokens) for tokens in dynamic]
    assert all(5 < length < TOKEN_CAP for length in lengths) and len(set(lengths)) == len(lengths)  # ... each where its own text ended
    assert all(torch.equal(mine, theirs) for mine, theirs in zip(static, dynamic, strict=True))
