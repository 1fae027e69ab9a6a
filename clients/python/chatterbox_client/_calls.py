"""What the clients send, written once for both: each operation is a generator that yields
the HTTP calls it needs (and the pauses between them) and receives each answer, so a
multi-step operation (an update that fetches the ETag first and retries on 412, a job
followed until it ends) is the same code for `Client` and `AsyncClient`, which only differ
in how they send and sleep."""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx

from chatterbox_client.errors import ConnectionFailed, error_from

T = TypeVar("T")
RETRIED_STATUSES = (429, 503)
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=600.0, write=120.0, pool=30.0)  # generations are long; connecting is not


@dataclass
class Call:
    method: str
    path: str
    params: dict[str, Any] | None = None
    json: Any = None
    data: dict[str, Any] | None = None
    files: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    accept: tuple[int, ...] = ()  # failing statuses the operation handles itself (not raised)
    save_to: Path | None = None  # the body goes to this file as it arrives (`target_of`), not into memory

    @property
    def request(self) -> dict[str, Any]:
        """httpx's `build_request` arguments."""
        return {"method": self.method, "url": self.path, "params": self.params, "json": self.json, "data": self.data, "files": self.files, "headers": self.headers}


@dataclass(frozen=True)
class Wait:
    """A pause the flow asks for (polling a job): the driver sleeps, then sends None."""

    seconds: float


Flow = Generator[Call | Wait, Any, T]


@dataclass(frozen=True)
class Settings:
    base_url: str
    api_key: str | None
    max_retries: int
    timeout: httpx.Timeout

    @classmethod
    def of(cls, base_url: str | None, api_key: str | None, max_retries: int, timeout: float | httpx.Timeout | None) -> Settings:
        """Arguments first, then CHATTERBOX_URL and CHATTERBOX_API_KEY."""
        url = base_url or os.environ.get("CHATTERBOX_URL") or "http://localhost:3000"
        key = api_key if api_key is not None else os.environ.get("CHATTERBOX_API_KEY")
        resolved = timeout if isinstance(timeout, httpx.Timeout) else DEFAULT_TIMEOUT if timeout is None else httpx.Timeout(timeout)
        return cls(url.rstrip("/"), key or None, max_retries, resolved)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}


def retry_delay(response: httpx.Response | None, attempt: int) -> float:
    """Seconds before retry `attempt` (1, 2, ...): the server's Retry-After when it sent one,
    else exponential backoff with full jitter (0.5 s, 1 s, 2 s ... at most 30 s)."""
    if response is not None:
        try:
            return min(float(response.headers["retry-after"]), 60.0)
        except (KeyError, ValueError):
            pass
    return random.uniform(0, min(30.0, 0.5 * 2 ** (attempt - 1)))


def attempts(max_retries: int) -> range:
    return range(1, max_retries + 2)


def wait_before_retry(outcome: httpx.Response | httpx.TransportError, attempt: int, max_retries: int) -> float | None:
    """Seconds to wait before sending again, or None when `outcome` is final: a dropped
    connection, a 429 or a 503 are retried while retries are left."""
    if attempt > max_retries:
        return None
    if isinstance(outcome, httpx.TransportError):
        return retry_delay(None, attempt)
    return retry_delay(outcome, attempt) if outcome.status_code in RETRIED_STATUSES else None


def finished(outcome: httpx.Response | httpx.TransportError, call: Call) -> httpx.Response:
    """The answer, or the exception for a failure the call does not handle itself."""
    if isinstance(outcome, httpx.TransportError):
        raise ConnectionFailed(f"{call.method} {call.path}: {outcome}") from outcome
    if outcome.is_error and outcome.status_code not in call.accept:
        raise error_from(outcome)
    return outcome


def target_of(call: Call, response: httpx.Response) -> IO[bytes] | None:
    """The file a saved call's body is written to: appended to for a 206 (the rest of a
    partial file), none for a 416 (the file is whole already), else written afresh."""
    assert call.save_to is not None
    if response.status_code == 416:
        return None
    return call.save_to.open("ab" if response.status_code == 206 else "wb")


def single(call: Call, parse: Callable[[httpx.Response], T]) -> Flow[T]:
    """An operation of one call."""
    response = yield call
    return parse(response)


def model_of(kind: type[Any]) -> Callable[[httpx.Response], Any]:
    return lambda response: kind.model_validate(response.json())


def without_none(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


