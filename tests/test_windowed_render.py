"""Audio before the sentence ends (`models/chunk_stream.py`, `models/windowed_render.py`),
through the engine a runner calls, on the real model classes with random weights:

- a streamed chunk's first window is rendered from its first `stream_first_tokens` tokens,
  while T3 is still decoding it, and its last from every token;
- the windows add up to exactly the length of a whole render of the same tokens;
- their seams are as smooth as the whole render at the same place: no sample jump and no
  spectral change beyond what the whole render has there (a spliced signal fails the same
  measure, so it can fail);
- the same seed gives the same stream; a caller that stops reading takes its job out of the
  loop.

Random weights make noise-like audio, so the seams are judged against the whole render of
the same tokens rather than by ear.
"""

from __future__ import annotations

import asyncio
import functools

import librosa
import numpy as np
import pytest

from contract.families import ModelName
from contract.runner_jobs import RenderJob, TTSJob
from contract.stream_frames import WindowFrame
from harness.model_settings import engine_settings, random_model_settings
from harness.processes import wait_until
from models.chunk_stream import stream_chunk
from models.loader import load_tts
from models.tts_engine import TTSEngine
from models.voice_references import ReferenceReader
from tests.test_batched_t3 import loop_counter
from tests.test_family_engines import voice

FIRST_TOKENS = 25
SEAM_SAMPLES = 4800  # 0.2 s either side of a seam
TEXT = "A sentence long enough for a few windows of speech, rendered while the rest is decoded."


@pytest.fixture(scope="module", params=["original", "turbo"])
def engine(request: pytest.FixtureRequest) -> TTSEngine:
    name: ModelName = request.param
    return TTSEngine(load_tts(random_model_settings(), name), engine_settings(), ReferenceReader(None))


def streamed(engine: TTSEngine, job: TTSJob, stop_after_first: bool = False) -> tuple[list[np.ndarray], list[tuple[int, bool]], WindowFrame]:
    """The chunk's windows, what each was rendered from (tokens, last), and the last frame."""
    windows: list[np.ndarray] = []
    rendered_from: list[tuple[int, bool]] = []

    async def render_turn(work: functools.partial[np.ndarray], first: bool) -> np.ndarray:
        assert first == (not rendered_from)
        rendered_from.append((len(work.args[1]), work.args[2]))
        return await asyncio.to_thread(work)

    async def read() -> WindowFrame:
        frames = stream_chunk(engine, job, first=True, first_tokens=FIRST_TOKENS, render_turn=render_turn)
        async for header, samples in frames:
            if header.last:
                return header
            windows.append(samples)  # type: ignore[arg-type]
            if stop_after_first:
                await frames.aclose()
                return header
        raise AssertionError("no last frame")

    return windows, rendered_from, asyncio.run(read())


def spectral_flux(samples: np.ndarray, center: int) -> np.ndarray:
    """Change of the log spectrum from one 5 ms hop to the next, around `center`."""
    around = samples[center - SEAM_SAMPLES : center + SEAM_SAMPLES]
    spectrum = np.log(np.abs(librosa.stft(around, n_fft=512, hop_length=120, center=False)) + 1e-4)
    return np.sqrt(np.mean(np.diff(spectrum, axis=1) ** 2, axis=0))


def seam_is_clean(joined: np.ndarray, whole: np.ndarray, at: int) -> bool:
    flux, flux_whole = spectral_flux(joined, at), spectral_flux(whole, at)
    middle = len(flux) // 2
    jump = abs(float(joined[at] - joined[at - 1]))
    whole_jumps = np.abs(np.diff(whole[at - 480 : at + 480]))
    return float(flux[middle - 4 : middle + 4].max()) <= 1.25 * float(flux_whole.max()) and jump <= 1.5 * float(whole_jumps.max())


def test_windows_come_before_the_chunk_is_decoded_and_join_like_a_whole_render(engine: TTSEngine) -> None:
    job = TTSJob(text=TEXT, voice=voice("alex"), seed=11)
    windows, rendered_from, last = streamed(engine, job)
    assert not last.error and last.speech_tokens > 4 * FIRST_TOKENS and last.text_tokens > 10
    assert rendered_from[0] == (FIRST_TOKENS, False)  # the first window: a prefix, while T3 went on
    assert rendered_from[-1] == (last.speech_tokens, True) and len(windows) >= 3
    assert all(earlier < later for (earlier, _), (later, _) in zip(rendered_from, rendered_from[1:]))
    [decoded] = asyncio.run(engine.decode([job]))
    assert len(decoded.speech_tokens) == last.speech_tokens  # streaming did not change the tokens
    whole = engine.render(RenderJob(job=job, speech_tokens=decoded.speech_tokens)).audio.to_array()  # type: ignore[union-attr]
    joined = np.concatenate(windows)
    assert len(joined) == len(whole)
    seams = np.cumsum([len(window) for window in windows])[:-1]
    for at in seams:
        assert SEAM_SAMPLES <= at <= len(whole) - SEAM_SAMPLES
        assert seam_is_clean(joined, whole, at), at
    # the measure catches windows rendered apart (each a whole render of its own tokens)
    ends = [0] + [tokens for tokens, _ in rendered_from]
    apart = [engine.render(RenderJob(job=job, speech_tokens=decoded.speech_tokens[start:end])).audio.to_array() for start, end in zip(ends, ends[1:])]  # type: ignore[union-attr]
    assert not seam_is_clean(np.concatenate(apart), whole, len(apart[0]))


def test_the_same_seed_streams_the_same_audio_and_a_reader_who_leaves_frees_the_loop(engine: TTSEngine) -> None:
    job = TTSJob(text="Short and seeded, with a second window.", voice=voice("alex"), seed=5)
    first, _, _ = streamed(engine, job)
    again, _, _ = streamed(engine, job)
    assert len(first) >= 2 and all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    cancelled_before = loop_counter("cancellations")
    windows, rendered_from, _ = streamed(engine, job.model_copy(update={"text": " ".join([TEXT] * 6)}), stop_after_first=True)
    assert len(windows) == 1 and rendered_from == [(FIRST_TOKENS, False)]
    # the job (about 40 s of speech) left the loop at its next step, long before its end
    wait_until(lambda: loop_counter("cancellations") > cancelled_before, 120, "the abandoned job left the loop")
    assert engine.scheduler.decoding == 0
