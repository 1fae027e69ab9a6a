"""Continuous batching: one T3 loop per model, which requests join and leave between steps.

BentoML's adaptive batching hands a batchable API one batch at a time and sends the next
only when the whole batch has been answered (its dispatcher keeps one batch in flight). With
the loop behind such an API, a request that arrived while a loop ran waited for that loop's
last row, however short it was itself. So the runner's `decode` is a plain call that submits
its jobs here and awaits them, and one thread owns the model's loop (`models/t3_loop.py`):

- at every step boundary it admits what has queued (first come, first served, up to
  `capacity` requests in the loop), prefilled together and joined to the running rows;
- a request that stops leaves the loop at once and its caller gets its tokens: nobody waits
  for unrelated rows;
- a streamed request (one with a `TokenFeed`) is offered its tokens after every step, so its
  audio is rendered in windows while it is still decoding;
- a request whose caller hung up (its future cancelled) leaves before its next token, and one
  still queued is never admitted;
- when a shutdown's drain ends, the loop stops at its next step and every request in it or
  queued fails with ShuttingDownError;
- when a step fails, the loop's requests are decoded again one by one (each with its own
  seed, so a request gets the tokens it would have got) and only the one at fault fails.

The same seed gives the same tokens whenever a request joins (the token-equality tests of
`tests/test_batched_*.py`), so the schedule never changes what anyone hears.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field

import torch
from chatterbox.models.t3 import T3
from torch import Tensor

from contract.metrics import metrics, timed_stage
from lifecycle.drain import ShuttingDownError
from models.kv_rows import KVPlan, KVRows
from models.t3_loop import DecodeLoop, LoopRequest, T3Request, decode_batch, decode_loop
from models.token_feed import TokenFeed

logger = logging.getLogger(__name__)


@dataclass(eq=False)
class Ticket:
    """A request on its way through the loop; its future is what the caller awaits (and
    cancels when it hangs up)."""

    request: T3Request
    future: Future[Tensor] = field(default_factory=Future)
    entry: LoopRequest | None = None  # its place in the loop, once admitted
    feed: TokenFeed | None = None  # a streamed request's: offered its tokens after every step

    def resolve(self, outcome: Tensor | BaseException) -> None:
        try:
            if isinstance(outcome, BaseException):
                self.future.set_exception(outcome)
            else:
                self.future.set_result(outcome)
        except InvalidStateError:
            pass  # cancelled a moment before: its caller hung up


class DecodeScheduler:
    """The loop of one T3 and the requests waiting to join it."""

    def __init__(self, t3: T3, capacity: int, stop: threading.Event | None = None, kv: KVPlan | None = None) -> None:
        self.t3 = t3
        self.capacity = capacity  # requests in the loop at once (rows: two per guided request)
        self.stop = stop  # set when a shutdown's drain ended
        self.kv_plan = kv or KVPlan()
        self._kv: KVRows | None = None  # made by the loop's thread at its first loop, reused by every loop
        self.steps = 0  # steps taken since the start (what tests and benchmarks wait on)
        self._pending: deque[Ticket] = deque()
        self._in_loop: list[Ticket] = []  # touched by the loop's thread only
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    @property
    def decoding(self) -> int:
        """Requests in the loop now (read from another thread: a moment's snapshot)."""
        return len(self._in_loop)

    @property
    def queued(self) -> int:
        """Requests waiting to join the loop."""
        return len(self._pending)

    @property
    def cuda_graphs(self) -> bool:
        """Whether steps replay as CUDA graphs: planned, and no capture has failed since."""
        return self.kv_plan.graphs and (self._kv is None or self._kv.replays_graphs)

    def submit(self, requests: list[T3Request], feeds: list[TokenFeed | None] | None = None) -> list[Future[Tensor]]:
        """Queues `requests` together (they join the loop at the same step when there is
        room); each future gets its request's speech tokens or its error, and each feed its
        tokens as they are decoded. Cancel a future to take its request out."""
        tickets = [Ticket(request, feed=feed) for request, feed in zip(requests, feeds or [None] * len(requests), strict=True)]
        for ticket in tickets:
            if ticket.feed is not None:
                ticket.feed.watch(ticket.future)
        with self._wake:
            self._pending.extend(tickets)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="t3-loop", daemon=True)
                self._thread.start()
            self._wake.notify()
        return [ticket.future for ticket in tickets]

    def _run(self) -> None:
        with torch.inference_mode():
            while True:
                with self._wake:
                    self._wake.wait_for(lambda: bool(self._pending))
                try:
                    self._kv = self._kv or self.kv_plan.rows_for(self.t3, self.capacity)
                    with decode_loop(self.t3, self.stop, self._kv) as loop:
                        self._serve(loop)
                except ShuttingDownError as exc:
                    self._fail_all(exc)
                except Exception:
                    logger.exception("T3 loop failed; decoding its requests one by one")  # in dynamic caches of their own
                    self._decode_alone()

    def _serve(self, loop: DecodeLoop) -> None:
        """Steps until the loop is empty and nothing waits."""
        while True:
            self._drop_cancelled(loop)
            self._admit(loop)
            if not loop.requests:
                return
            metrics().decode_batch_chunks.observe(len(loop.requests))
            with timed_stage("tts", "t3"):
                finished = loop.step()
            self.steps += 1
            if finished:
                done = {id(entry) for entry in finished}
                for ticket in self._in_loop:
                    if id(ticket.entry) in done:
                        ticket.resolve(ticket.entry.tokens)  # type: ignore[union-attr]
                self._in_loop = [ticket for ticket in self._in_loop if id(ticket.entry) not in done]
            for ticket in self._in_loop:
                if ticket.feed is not None:
                    ticket.feed.offer(ticket.entry)  # type: ignore[arg-type]

    def _admit(self, loop: DecodeLoop) -> None:
        joining: list[Ticket] = []
        with self._wake:
            while self._pending and len(self._in_loop) + len(joining) < self.capacity:
                ticket = self._pending.popleft()
                if ticket.future.cancelled():
                    metrics().loop_cancellations.inc()
                else:
                    joining.append(ticket)
        if not joining:
            return
        if loop.requests:
            metrics().loop_joins.inc(len(joining))
        self._in_loop += joining  # before the prefill: if it fails, they are decoded alone
        for ticket, entry in zip(joining, loop.admit([ticket.request for ticket in joining]), strict=True):
            ticket.entry = entry

    def _drop_cancelled(self, loop: DecodeLoop) -> None:
        gone = [ticket for ticket in self._in_loop if ticket.future.cancelled()]
        if gone:
            loop.leave([ticket.entry for ticket in gone if ticket.entry is not None])
            self._in_loop = [ticket for ticket in self._in_loop if ticket not in gone]
            metrics().loop_cancellations.inc(len(gone))
            logger.info("decoding stopped: its caller hung up", extra={"requests": len(gone), "in_loop": len(self._in_loop)})

    def _fail_all(self, exc: ShuttingDownError) -> None:
        with self._wake:
            failed, self._pending = [*self._in_loop, *self._pending], deque()
        self._in_loop = []
        for ticket in failed:
            ticket.resolve(exc)

    def _decode_alone(self) -> None:
        """The failed loop's requests, each in a loop of its own."""
        failed, self._in_loop = self._in_loop, []
        for ticket in failed:
            if ticket.future.cancelled():
                continue
            try:
                [tokens] = decode_batch(self.t3, [ticket.request], self.stop)
            except Exception as exc:
                ticket.resolve(exc)
            else:
                ticket.resolve(tokens)
