"""Audio before the sentence ends (`models/chunk_stream.py`, `models/windowed_render.py`),
through the engine a runner calls, on the real model classes with random weights:

- a streamed chunk's first window is rendered once `stream_first_tokens` tokens are decoded,
  from a prefix of its tokens (T3 still decoding the rest), and its last from every token,
  the same tokens the chunk decodes unstreamed;
- the windows add up to exactly the length of a whole render of the same tokens;
- their seams are as smooth as the whole render at the same place: no sample jump and no
  spectral change beyond what the whole render has there (a spliced signal fails the same
  measure, so it can fail);
- a caller that stops reading takes its job out of the loop.

Random weights make noise-like audio, so the seams are judged against the whole render of
the same tokens rather than by ear.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

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
TEXT = "Long enough for two windows, or three today."


@pytest.fixture(scope="module")
def engines() -> Iterator[dict[ModelName, TTSEngine]]:
    """The module's engines, built when first asked for (Turbo serves both tests)."""
    built: dict[ModelName, TTSEngine] = {}
    yield built
    built.clear()


def engine_of(engines: dict[ModelName, TTSEngine], name: ModelName) -> TTSEngine:
    if name not in engines:
        engines[name] = TTSEngine(load_tts(random_model_settings(), name), engine_settings(), ReferenceReader(None))
    return engines[name]


def streamed(engine: TTSEngine, job: TTSJob, stop_after_first: bool = False) -> tuple[list[np.ndarray], list[tuple[int, bool]], WindowFrame]:
    """The chunk's windows, what each was rendered from (tokens, last), and the last frame."""
    windows: list[np.ndarray] = []
    rendered_from: list[tuple[int, bool]] = []

    async def render_turn(work: Callable[[], tuple[np.ndarray, int, bool]], first: bool) -> tuple[np.ndarray, int, bool]:
        assert first == (not rendered_from)
        samples, tokens, last = await asyncio.to_thread(work)
        rendered_from.append((tokens, last))
        return samples, tokens, last

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


@pytest.mark.parametrize("name", ["original", "turbo"])
def test_windows_come_before_the_chunk_is_decoded_and_join_like_a_whole_render(engines: dict[ModelName, TTSEngine], name: ModelName) -> None:
    engine = engine_of(engines, name)
    job = TTSJob(text=TEXT, voice=voice("alex"), seed=11)
    windows, rendered_from, last = streamed(engine, job)
    assert not last.error and last.speech_tokens > 2 * FIRST_TOKENS and last.text_tokens > 10
    first_window, first_is_last = rendered_from[0]
    assert FIRST_TOKENS <= first_window < last.speech_tokens and not first_is_last  # a prefix, while T3 went on
    assert rendered_from[-1] == (last.speech_tokens, True) and len(windows) >= 2
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


def test_a_reader_who_leaves_takes_the_job_out_of_the_loop(engines: dict[ModelName, TTSEngine]) -> None:
    """On Turbo (its two flow steps are the quick ones): the scheduling is every model's."""
    engine = engine_of(engines, "turbo")
    cancelled_before = loop_counter("cancellations")
    job = TTSJob(text=" ".join([TEXT] * 12), voice=voice("alex"), seed=5)
    windows, rendered_from, _ = streamed(engine, job, stop_after_first=True)
    assert len(windows) == 1 and len(rendered_from) == 1 and not rendered_from[0][1]
    # the job (about 40 s of speech) left the loop at its next step, long before its end
    wait_until(lambda: loop_counter("cancellations") > cancelled_before, 120, "the abandoned job left the loop")
    assert engine.scheduler.decoding == 0
