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
from collections.abc import Iterator

from storage.base import PreconditionFailedError

FIRST_WAIT_SECONDS = 0.005
LONGEST_WAIT_SECONDS = 0.5


def cas_attempts(what: str, attempts: int = 16) -> Iterator[int]:
    """Attempt numbers for a read-modify-write loop (`for _ in cas_attempts(...)`): the body
    returns or breaks when its write went through and continues when it lost; after the
    last attempt PreconditionFailedError says `what` kept changing."""
    for attempt in range(attempts):
        if attempt:
            time.sleep(random.uniform(0, min(LONGEST_WAIT_SECONDS, FIRST_WAIT_SECONDS * 2**attempt)))
        yield attempt
    raise PreconditionFailedError(f"{what} kept changing; gave up after {attempts} attempts")
