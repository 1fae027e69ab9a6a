"""Retrying a compare-and-swap write that lost a race: a short, growing, jittered wait
before each new attempt.

Writers that lost a conditional write re-read and try again. Without a wait, writers that
collided keep colliding in lockstep (each retry lands at the same moment as the others'),
burning attempts and storage requests; "full jitter" (a random wait up to a bound that
doubles with each attempt) spreads them out, as AWS's backoff guidance recommends.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from storage.base import PreconditionFailedError

FIRST_WAIT_SECONDS = 0.005
LONGEST_WAIT_SECONDS = 0.5

T = TypeVar("T")


def retry_conflicts(what: str, attempt: Callable[[], T], attempts: int = 16) -> T:
    """`attempt()` (read, change, conditional write) until it returns; each time it raises
    PreconditionFailedError (its write lost a race) it runs again from a fresh read after a
    jittered wait. After the last attempt PreconditionFailedError says `what` kept changing."""
    for number in range(attempts):
        if number:
            time.sleep(random.uniform(0, min(LONGEST_WAIT_SECONDS, FIRST_WAIT_SECONDS * 2**number)))
        try:
            return attempt()
        except PreconditionFailedError:
            continue
    raise PreconditionFailedError(f"{what} kept changing; gave up after {attempts} attempts")
