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
import psutil

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


def kill(process: subprocess.Popen) -> None:
    """SIGKILL to the process and everything it started at once, as when its pod or machine
    dies (BentoML's worker has a session of its own, so the process group is not enough)."""
    everyone = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
    for member in everyone:
        member.kill()
    psutil.wait_procs(everyone, timeout=30)


def start_moto(log: Path) -> tuple[subprocess.Popen, str]:
    """A real S3-compatible HTTP endpoint (moto's server mode) and its URL."""
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )
    endpoint = f"http://127.0.0.1:{port}"
    wait_until(lambda: httpx.get(endpoint).status_code < 500, 30, "moto server", process)
    return process, endpoint


def serve_command(port: int, alone: bool = False) -> list[str]:
    """`bentoml serve` (the API and its runners under one arbiter), or with `alone`, one
    service of the Bento as a Kubernetes pod runs it (`deploy/kubernetes`): the command the
    Bento's container entrypoint maps `start-http-server` to, the service chosen by the same
    environment variables the manifests set (`one_service_env`)."""
    if alone:
        return [sys.executable, "-m", "bentoml_cli._internal.start", "start-http-server", ".", "--host", "127.0.0.1", "--port", str(port)]
    return [str(BIN / "bentoml"), "serve", "service:ChatterboxService", "--host", "127.0.0.1", "--port", str(port)]


def one_service_env(service: str | None = None, depends: dict[str, str] | None = None) -> dict[str, str]:
    """A runner (`service`), or the API calling its runners at the URLs in `depends`."""
    if service is not None:
        return {"BENTOML_SERVE_SERVICE_NAME": service}
    return {"BENTOML_SERVE_DEPENDS": " ".join(f"{name}={url}" for name, url in (depends or {}).items())}


def launch(command: list[str], env: dict[str, str], log: Path, root: Path = ROOT) -> subprocess.Popen:
    return subprocess.Popen(
        command, cwd=root, env={**os.environ, **S3_CREDENTIALS, **RANDOM_MODEL_ENV, **env}, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    )


def wait_ready(process: subprocess.Popen, port: int, log: Path, timeout: float = 300, path: str = "/api/v1/health") -> subprocess.Popen:
    """`process` once `path` answers 200 (BentoML's `/readyz` for a runner alone); on a
    failure to start, the process is stopped and its log's end shown."""
    try:
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}{path}").status_code == 200, timeout, " ".join(process.args[-6:]), process)
    except Exception:
        stop(process)
        sys.stderr.write(log.read_text()[-5000:])
        raise
    return process


def start_bentoml(env: dict[str, str], log: Path, port: int, timeout: float = 300, root: Path = ROOT) -> subprocess.Popen:
    """`bentoml serve` of this repository (or of another checkout of it, `root`), returned
    once /api/v1/health answers 200."""
    return wait_ready(launch(serve_command(port), env, log, root), port, log, timeout)
