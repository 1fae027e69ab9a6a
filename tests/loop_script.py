"""One scripted continuous-batching loop, run with either KV store (`models/kv_rows.py`), for
the token-equality tests of the static cache against the dynamic one.

The script exercises everything the static cache does differently: the first request starts
alone; after a few steps two join at once, one with a longer prompt than the loop's columns
so far (the running rows move right) and one shorter (it is padded); rows leave from the
middle as they stop (the slots behind them move up); a late request joins once the
others have advanced. With a small starting cache the shared column reaches the end (the
padding all rows share is cut) and slots and columns run out (the buffers grow)."""

from __future__ import annotations

import torch
from chatterbox.models.t3 import T3
from torch import Tensor

from models.kv_rows import KVRows
from models.t3_loop import T3Request, decode_loop

FIRST_STEPS = 6  # the first request decodes alone this long
LATE_STEPS = 20  # then the next two join; this many steps later, the rest


def scripted_loop(t3: T3, requests: list[T3Request], kv: KVRows | None) -> tuple[list[Tensor], int]:
    """Each request's tokens (in the order given: first, the two joining together, the late
    ones) and the loop's columns had no column ever been cut (its widest prompt plus its steps)."""
    steps = 0
    with torch.inference_mode(), decode_loop(t3, None, kv) as loop:
        entries = loop.admit(requests[:1])
        widest = loop.kv.end
        for _ in range(FIRST_STEPS):
            loop.step()
            steps += 1
        entries += loop.admit(requests[1:3])
        widest = max(widest, loop.kv.end)
        for _ in range(LATE_STEPS):
            if loop.requests:
                loop.step()
                steps += 1
        entries += loop.admit(requests[3:])
        while loop.requests:
            loop.step()
            steps += 1
    return [entry.tokens for entry in entries], widest + steps
