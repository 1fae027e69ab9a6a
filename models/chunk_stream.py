"""One chunk streamed: its T3 request joins the model's loop with a token feed, and its audio
is rendered in windows as the tokens arrive (`models/windowed_render.py`), while T3 goes on
decoding it and every other row of the loop.

Each window is S3Gen work on the runner's render queue (`render_turn`), so windows of
different requests interleave there, a request's first window ahead of others' later ones.
The caller that stops iterating (its listener hung up) takes the request out of the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import numpy as np

from contract.runner_jobs import TTSJob, failed_job
from contract.stream_frames import WindowFrame
from models.token_feed import TokenFeed
from models.tts_engine import TTSEngine

RenderTurn = Callable[[Callable[[], Any], bool], Awaitable[Any]]
"""S3Gen work and whether it is a request's first (it goes first): its result, in turn."""


async def stream_chunk(engine: TTSEngine, job: TTSJob, *, first: bool, first_tokens: int, render_turn: RenderTurn) -> AsyncIterator[tuple[WindowFrame, np.ndarray | None]]:
    """The chunk's windows as they are rendered, then a `last` frame with its totals; a
    failure is the last frame, with its error. `first`: the chunk is its request's first,
    so its first window goes before other requests' later windows.

    A window is queued once `first_tokens` tokens are decoded (then twice as many as the
    last window took) and takes every token decoded by the time S3Gen starts it: a busy
    S3Gen renders fewer, larger windows, so streaming costs little more S3Gen work than
    whole renders where S3Gen is what limits throughput."""
    result, request, windowed = await asyncio.to_thread(engine.prepared_stream, job)
    if request is None or windowed is None:
        yield WindowFrame.model_validate(result.model_dump(include={"error", "error_is_client_fault", "needs_reference"}) | {"last": True}), None
        return
    feed = TokenFeed()
    [future] = engine.scheduler.submit([request], [feed])

    def window() -> tuple[np.ndarray, int, bool]:
        tokens, last = feed.latest(future)
        return engine.render_window(windowed, tokens, last), len(tokens), last

    tokens = 0
    try:
        wanted, last = first_tokens, False
        while not last:
            await feed.reached(wanted, future)
            samples, tokens, last = await render_turn(window, first and windowed.windows == 0)
            if samples.size:
                yield WindowFrame(sample_rate=engine.sample_rate), samples
            wanted = 2 * tokens
    except Exception as exc:
        yield failed_job(exc, "tts", WindowFrame).model_copy(update={"last": True}), None
        return
    finally:
        future.cancel()  # still decoding: its caller left, so it leaves the loop
        engine.jobs_done += 1
    yield WindowFrame(last=True, text_tokens=result.text_tokens, speech_tokens=tokens, conditioning_cache_hit=result.conditioning_cache_hit), None
