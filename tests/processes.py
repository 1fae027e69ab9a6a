"""Starting and stopping the real processes that tests and benchmarks talk to: a moto S3
server and `bentoml serve` with random-weight models, both on 127.0.0.1 only."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
POLL_SECONDS = 0.1
T = TypeVar("T")
RANDOM_MODEL_ENV = {"CHATTERBOX_MODEL_SOURCE": "random", "CHATTERBOX_DEVICE": "cpu", "CHATTERBOX_MODELS": "original"}  # stacks that serve more say so


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check: Callable[[], T], timeout: float, what: str, process: subprocess.Popen | None = None) -> T:
    """Polls `check` until it returns something true, and returns that (connection errors
    count as not yet). The deadline is generous: it only turns a hang into a failure."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what}: process exited with {process.returncode}")
        try:
            if result := check():
                return result
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(POLL_SECONDS)
    raise TimeoutError(f"{what}: not so after {timeout} s")


def stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:  # it exited by itself (a start-up failure): nothing to stop
        process.wait()
        return
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def start_moto(log: Path) -> tuple[subprocess.Popen, str]:
    """A real S3-compatible HTTP endpoint (moto's server mode) and its URL."""
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )
    endpoint = f"http://127.0.0.1:{port}"
    wait_until(lambda: httpx.get(endpoint).status_code < 500, 30, "moto server", process)
    return process, endpoint


def start_bentoml(env: dict[str, str], log: Path, port: int, timeout: float = 300, root: Path = ROOT) -> subprocess.Popen:
    """`bentoml serve` of this repository (or of another checkout of it, `root`), returned
    once /api/v1/health answers 200."""
    process = subprocess.Popen(
        [str(BIN / "bentoml"), "serve", "service:ChatterboxService", "--host", "127.0.0.1", "--port", str(port)],
        cwd=root, env={**os.environ, **S3_CREDENTIALS, **RANDOM_MODEL_ENV, **env}, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/api/v1/health").status_code == 200, timeout, "bentoml serve", process)
    except Exception:
        stop(process)
        sys.stderr.write(log.read_text()[-5000:])
        raise
    return process
