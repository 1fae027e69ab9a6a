"""Fixtures that run the real thing: `bentoml serve` with random-weight Chatterbox models,
on local-folder storage and on a moto S3 server, reached over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import httpx
import pytest

from storage import Storage
from storage.local import LocalStorage
from storage.s3 import S3Storage

ROOT = Path(__file__).resolve().parent.parent
TESTDATA = ROOT.parent / "shared" / "testdata"
BIN = Path(sys.executable).parent
MAX_NEW_TOKENS = 40  # about 1.6 s of speech per chunk keeps random-weight generation fast
MAX_CHUNK_CHARS = 60
MAX_UPLOAD_BYTES = 2 * 1024 * 1024
S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
os.environ.update(S3_CREDENTIALS)  # the test process only ever talks to moto


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def read_testdata(name: str) -> bytes:
    return (TESTDATA / name).read_bytes()


def wait_until(check, timeout: float, what: str, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what}: process exited with {process.returncode}")
        try:
            if check():
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{what} not ready after {timeout} s")


def stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real S3-compatible HTTP endpoint on 127.0.0.1 (moto's server mode)."""
    port = free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("w")
    process = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    endpoint = f"http://127.0.0.1:{port}"
    wait_until(lambda: httpx.get(endpoint).status_code < 500, 30, "moto server", process)
    yield endpoint
    stop(process)


def s3_client(endpoint: str):
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")


@dataclass
class RunningService:
    backend: str
    base_url: str
    storage: Storage
    tmpdir: Path
    client: httpx.Client

    def stored_keys(self) -> set[str]:
        return set(self.storage.list_keys(""))

    def temp_files(self) -> set[Path]:
        """Files in the service's TMPDIR (libraries leave a few at import; compare sets)."""
        return {path for path in self.tmpdir.rglob("*") if path.is_file()}


def start_service(backend: str, tmp: Path, moto_endpoint: str | None) -> tuple[subprocess.Popen, RunningService]:
    port = free_port()
    tmpdir = tmp / "tmp"
    tmpdir.mkdir()
    env = {
        **os.environ,
        **S3_CREDENTIALS,
        "CHATTERBOX_MODEL_SOURCE": "random",
        "CHATTERBOX_DEVICE": "cpu",
        "CHATTERBOX_TTS__MAX_NEW_TOKENS": str(MAX_NEW_TOKENS),
        "CHATTERBOX_TTS__MAX_CHUNK_CHARS": str(MAX_CHUNK_CHARS),
        "CHATTERBOX_LIMITS__MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES),
        "BENTOML_HOME": str(tmp / "bentoml"),
        "TMPDIR": str(tmpdir),
        "STORAGE_BACKEND": backend,
    }
    if backend == "s3":
        assert moto_endpoint is not None
        bucket = f"chatterbox-test-{port}"
        s3_client(moto_endpoint).create_bucket(Bucket=bucket)
        env |= {"S3_BUCKET": bucket, "S3_PREFIX": "tenant-a", "S3_ENDPOINT_URL": moto_endpoint, "S3_REGION": "us-east-1"}
        storage: Storage = S3Storage(bucket, "tenant-a", moto_endpoint, "us-east-1")
    else:
        env["STORAGE_DIR"] = str(tmp / "data")
        storage = LocalStorage(tmp / "data")
    log = (tmp / "serve.log").open("w")
    process = subprocess.Popen(
        [str(BIN / "bentoml"), "serve", "service:ChatterboxService", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=base_url, timeout=600)
    try:
        wait_until(lambda: client.get("/api/v1/health").status_code == 200, 300, f"bentoml serve ({backend})", process)
    except Exception:
        stop(process)
        print((tmp / "serve.log").read_text()[-5000:])
        raise
    return process, RunningService(backend, base_url, storage, tmpdir, client)


@pytest.fixture(scope="session", params=["local", "s3"])
def service(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    """The whole service (API + TTS runner + VC runner) on each storage backend."""
    moto = request.getfixturevalue("moto_endpoint") if request.param == "s3" else None
    process, running = start_service(request.param, tmp_path_factory.mktemp(f"service-{request.param}"), moto)
    yield running
    running.client.close()
    stop(process)


@pytest.fixture(scope="session")
def voices(service: RunningService) -> dict[str, str]:
    """Two library voices, uploaded once per service."""
    names = {"alex": "voice_alex.wav", "bella": "voice_bella.wav"}
    for name, filename in names.items():
        response = service.client.post(
            "/api/v1/voice", files={"file": (filename, read_testdata(filename))}, data={"name": f"fixture-{name}", "overwrite": "true"}
        )
        assert response.status_code in (200, 201), response.text
    return {name: f"fixture-{name}" for name in names}
