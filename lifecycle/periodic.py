"""A background thread that runs a few maintenance tasks, each on its own cadence.

The service's upkeep runs this way (copying use counts to storage, retention, the job
queue's heartbeats and take-overs, expiring old records, migrating a database that was down
at start). A failing task is logged and retried on its next turn; it never stops the others
or the service.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)

TICK_SECONDS = 0.5


@dataclass(frozen=True)
class Task:
    name: str
    every: Callable[[], float]  # seconds until the next run, asked each time (<= 0: never)
    work: Callable[[], object]


class PeriodicTasks:
    def __init__(self, name: str, tasks: list[Task]) -> None:
        self.name = name
        self.tasks = tasks
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        due = {task.name: time.monotonic() for task in self.tasks}
        while not self._stop.wait(TICK_SECONDS):
            for task in self.tasks:
                now = time.monotonic()
                every = task.every()
                if every <= 0 or now < due[task.name]:
                    continue
                due[task.name] = now + every
                try:
                    task.work()
                except Exception:
                    logger.exception("background upkeep failed; will retry", extra={"upkeep": self.name, "task": task.name})
