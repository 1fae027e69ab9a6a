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
from runners.render_queue import Render, RenderQueue


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


def test_renders_of_similar_lengths_run_in_one_batch_in_queue_order() -> None:
    """With `render_batch` 3, the head of the queue takes the queued renders within 1.5x of
    its token count, in queue order (first renders first); a much longer one runs in a batch
    of its own, and a window (any other work) runs alone."""
    holding, release = threading.Event(), threading.Event()
    batches: list[list[int]] = []

    def render_batch(jobs: list[RenderJob]) -> list[JobResult]:
        if jobs[0].speech_tokens == [0]:
            holding.set()
            assert release.wait(60)
        batches.append([len(queued.speech_tokens) for queued in jobs])
        return [JobResult(speech_tokens=len(queued.speech_tokens)) for queued in jobs]

    queue = RenderQueue(Drain(1.0), render_batch, batch_size=3)

    def queued_render(length: int, first: bool) -> Future[JobResult]:
        render = RenderJob(job=TTSJob(text="Queued.", seed=length), speech_tokens=list(range(length)), first=first)
        return queue.submit(Render(render, length), first)

    held = queue.submit(Render(RenderJob(job=TTSJob(text="Held.", seed=0), speech_tokens=[0]), 1), True)
    assert holding.wait(60)
    futures = [queued_render(100, False), queued_render(400, False), queued_render(150, False), queued_render(110, True), queued_render(90, False)]
    window = queue.submit(lambda: JobResult(speech_tokens=-1), False)
    release.set()
    assert [future.result(timeout=60).speech_tokens for future in futures] == [100, 400, 150, 110, 90]
    assert held.result(timeout=60).speech_tokens == 1 and window.result(timeout=60).speech_tokens == -1
    # the first render heads the batch with the two queued first within 1.5x of its 110 (90 would
    # fit but the batch is full); then 400 heads one of its own, and 90 another
    assert batches == [[1], [110, 100, 150], [400], [90]]
