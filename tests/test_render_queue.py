"""The runners' S3Gen queue (`runners/render_queue.py`): first come, first served, except that
a request's first render goes before other requests' later chunks; a render whose caller hung
up while it waited is dropped, and after a drain ended nothing more is rendered. Proven with a
render that holds the queue's thread until the test has queued the others."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from functools import partial

import pytest

from contract.runner_jobs import JobResult, RenderJob, TTSJob, VCRenderJob
from lifecycle.drain import Drain, ShuttingDownError
from runners.render_queue import RenderQueue


def job(number: int, first: bool) -> RenderJob:
    return RenderJob(job=TTSJob(text="Queued.", seed=number), speech_tokens=[number], first=first)


def submit(queue: RenderQueue, render: Callable[[RenderJob], JobResult], queued: RenderJob) -> Future[JobResult]:
    return queue.submit(partial(render, queued), queued.first)


def test_first_renders_overtake_later_chunks_and_abandoned_ones_are_dropped() -> None:
    drain = Drain(1.0)
    queue = RenderQueue(drain)
    holding, release = threading.Event(), threading.Event()
    rendered: list[int] = []

    def render(queued: RenderJob | VCRenderJob) -> JobResult:
        if queued.speech_tokens == [0]:
            holding.set()
            assert release.wait(60)
        rendered.append(queued.speech_tokens[0])
        return JobResult(speech_tokens=len(queued.speech_tokens))

    held = queue.submit(partial(render, VCRenderJob(speech_tokens=[0])), True)  # a VC render is its request's first
    assert holding.wait(60)
    later = [submit(queue, render, job(1, first=False)), submit(queue, render, job(2, first=False))]
    abandoned = submit(queue, render, job(3, first=True))
    assert abandoned.cancel()  # its caller hung up while it waited
    first = submit(queue, render, job(4, first=True))
    release.set()
    for future in (held, *later, first):
        assert future.result(timeout=60).speech_tokens == 1
    assert rendered == [0, 4, 1, 2]

    drain.expired.set()
    with pytest.raises(ShuttingDownError):
        submit(queue, render, job(5, first=True)).result(timeout=60)
    assert rendered == [0, 4, 1, 2]
