"""`model.dtype` (`models/precision.py`): T3 and S3Gen's flow in bfloat16 against float32, on
the real model classes with random weights (the same weights cast), on the CPU.

- a decode step's logits (the prompt pass, then one step with the same token fed to both):
  within 2 % of the float32 logits' scale, and the sampling distributions within 0.01 in
  total variation (measured: 0.6 % and 0.0014);
- a whole render of the same tokens with the same seed: the same length, and the log-mel
  spectrum within 1 dB on average, 2 dB at the 95th percentile (measured: 0.13 and 0.43 dB
  for the original S3Gen, 0.01 and 0.03 dB for Turbo's).

Both also check that the cast happened (the networks hold bfloat16 and the outputs differ),
so a dtype that silently stayed float32 fails.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator

import librosa
import numpy as np
import pytest
import torch

from audio.decoding import decode
from contract.families import ModelName
from contract.runner_jobs import TTSJob
from harness.model_settings import engine_settings, random_model_settings
from harness.testdata import read_testdata
from models.families import family_class
from models.families.base import TTSModel
from models.loader import load_tts
from models.precision import apply_precision
from models.t3_batch import next_embeds
from models.t3_loop import decode_loop

LOGIT_TOLERANCE = 0.02  # of the float32 logits' largest magnitude
TOTAL_VARIATION = 0.01
SPECTRUM_MEAN_DB, SPECTRUM_P95_DB = 1.0, 2.0
FED_TOKEN = 100
PROMPT_TOKENS = 40
TEXT = "Half precision should say the same thing."


@pytest.fixture(scope="module")
def models() -> Iterator[dict[ModelName, dict[torch.dtype, TTSModel]]]:
    """Each family's random model in float32 and a copy of it cast to bfloat16."""
    built: dict[ModelName, dict[torch.dtype, TTSModel]] = {}
    for name in ("original", "multilingual", "turbo"):
        model = load_tts(random_model_settings(), name).model
        half = copy.deepcopy(model)
        assert apply_precision(half, torch.bfloat16) == "bfloat16"
        built[name] = {torch.float32: model, torch.bfloat16: half}
    yield built
    built.clear()


def conditionals(name: ModelName, model: TTSModel):
    reference = decode(read_testdata("voice_alex.wav"), 24_000).samples
    return family_class(name)(model).conditionals(np.tile(reference, 3) if name == "turbo" else reference)  # Turbo takes more than 5 s


def step_logits(name: ModelName, model: TTSModel, conds) -> tuple[torch.Tensor, torch.Tensor]:
    """The prompt pass's logits and the next step's, with `FED_TOKEN` as the sampled token."""
    family = family_class(name)(model)
    job = TTSJob(text=TEXT, seed=1)
    # a shorter speech prompt: the CPU's bfloat16 matmuls of GPT-2's layout take seconds per 100 tokens
    cond = dataclasses.replace(conds.t3, cond_prompt_speech_tokens=conds.t3.cond_prompt_speech_tokens[:, :PROMPT_TOKENS])
    request = family.decode_request(job, family.text_tokens(TEXT, None), cond, engine_settings(), None)
    t3 = model.t3
    with torch.inference_mode(), decode_loop(t3) as loop:
        [entry] = loop.admit([request])
        embeds = next_embeds(t3, torch.tensor([[FED_TOKEN]]), torch.tensor([[1]]), torch.tensor([request.rows]))
        following = loop.kv.forward(t3, embeds, loop.positions + 1, loop.attention)
    return entry.logits, following


@pytest.mark.parametrize("name", ["original", "multilingual", "turbo"])
def test_bfloat16_logits_of_a_decode_step_stay_close_to_float32(models: dict, name: ModelName) -> None:
    full, half = models[name][torch.float32], models[name][torch.bfloat16]
    assert half.t3.speech_head.weight.dtype == torch.bfloat16 and full.t3.speech_head.weight.dtype == torch.float32
    conds = conditionals(name, full)  # the same voice for both (the voice encoder stays float32)
    for exact, rounded in zip(step_logits(name, full, conds), step_logits(name, half, conds), strict=True):
        assert rounded.dtype == torch.float32  # sampled in float32
        difference = (exact - rounded).abs().max().item()
        assert 0 < difference <= LOGIT_TOLERANCE * exact.abs().max().item()
        variation = 0.5 * (torch.softmax(exact, -1) - torch.softmax(rounded, -1)).abs().sum(-1).max().item()
        assert variation <= TOTAL_VARIATION


def log_mel(samples: np.ndarray) -> np.ndarray:
    return librosa.power_to_db(librosa.feature.melspectrogram(y=samples, sr=24_000, n_mels=80) + 1e-10)


@pytest.mark.parametrize("name", ["original", "turbo"])  # the multilingual model has the original's S3Gen
def test_a_bfloat16_render_has_the_float32_spectrum(models: dict, name: ModelName) -> None:
    full, half = models[name][torch.float32], models[name][torch.bfloat16]
    assert half.s3gen.flow.encoder_proj.weight.dtype == torch.bfloat16 and next(half.s3gen.mel2wav.parameters()).dtype == torch.float32  # HiFT stays float32
    gen = conditionals(name, full).gen
    speech = torch.randint(0, 6561, (120,), generator=torch.Generator().manual_seed(3)).tolist()
    audio = {}
    for dtype, model in ((torch.float32, full), (torch.bfloat16, half)):
        with torch.inference_mode():
            torch.manual_seed(5)
            audio[dtype] = family_class(name)(model).render(speech, gen, 5)
    assert len(audio[torch.float32]) == len(audio[torch.bfloat16]) > 0
    assert not np.array_equal(audio[torch.float32], audio[torch.bfloat16])
    difference = np.abs(log_mel(audio[torch.float32]) - log_mel(audio[torch.bfloat16]))
    assert difference.mean() <= SPECTRUM_MEAN_DB and np.percentile(difference, 95) <= SPECTRUM_P95_DB
