"""Fixtures that run the real thing: `bentoml serve` with random-weight Chatterbox models,
on local-folder storage and on a moto S3 server, reached over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import httpx
import pytest

from config import TTSSettings
from storage import Storage
from storage.local import LocalStorage
from storage.s3 import S3Storage
from storage.voices import is_record_key
from tests.processes import ROOT, S3_CREDENTIALS, free_port, start_bentoml, start_moto, stop
from voices.metadata import USAGE_FIELDS

TESTDATA = ROOT.parent / "shared" / "testdata"
MAX_NEW_TOKENS = 40  # about 1.6 s of speech per chunk keeps random-weight generation fast
MAX_CHUNK_CHARS = 60
MAX_UPLOAD_BYTES = 2 * 1024 * 1024
INDEX_REFRESH_SECONDS = 1  # another replica's writes show up within about this long
USAGE_FLUSH_SECONDS = 1
CONCAT_SYNC_MAX_SECONDS = 30  # longer concatenations answer 202 and run as jobs
os.environ.update(S3_CREDENTIALS)  # the test process only ever talks to moto


def read_testdata(name: str) -> bytes:
    return (TESTDATA / name).read_bytes()


def engine_settings() -> TTSSettings:
    """TTS settings for engines built directly in tests (short generations)."""
    return TTSSettings(
        max_new_tokens=20, max_chunk_chars=50, crossfade_ms=30, repetition_penalty=1.2, min_p=0.05, top_p=1.0,
        conditioning_cache_size=8, speed_factor=1.0, speed_factor_library="auto", stream_first_chunk_chars=20, chunks_in_flight=4,
    )


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real S3-compatible HTTP endpoint on 127.0.0.1 (moto's server mode)."""
    process, endpoint = start_moto(tmp_path_factory.mktemp("moto") / "moto.log")
    yield endpoint
    stop(process)


def s3_client(endpoint: str):
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path) -> Iterator[Storage]:
    if request.param == "local":
        yield LocalStorage(tmp_path / "store")
        return
    endpoint = request.getfixturevalue("moto_endpoint")
    bucket = f"unit-{tmp_path.name.lower().replace('_', '-')[-40:]}"
    s3_client(endpoint).create_bucket(Bucket=bucket)
    yield S3Storage(bucket, "prefix/", endpoint, "us-east-1")


@dataclass
class RunningService:
    backend: str
    base_url: str
    storage: Storage
    tmpdir: Path
    client: httpx.Client

    def stored_keys(self) -> set[str]:
        return set(self.storage.list_keys(""))

    def stored_state(self) -> dict[str, object]:
        """Every object by key: its version, or for a voice record its content less the use
        counters (a use flushed in the background is not a change a request made)."""
        state: dict[str, object] = {}
        for info in self.storage.list_objects(""):
            if is_record_key(info.key):
                record = json.loads(self.storage.get(info.key))
                state[info.key] = {k: v for k, v in record.items() if k not in USAGE_FIELDS}
            else:
                state[info.key] = info.version
        return state

    def temp_files(self) -> set[Path]:
        """Files in the service's TMPDIR (libraries leave a few at import; compare sets)."""
        return {path for path in self.tmpdir.rglob("*") if path.is_file()}


def start_service(backend: str, tmp: Path, moto_endpoint: str | None, extra_env: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> tuple[subprocess.Popen, RunningService]:
    port = free_port()
    tmpdir = tmp / "tmp"
    tmpdir.mkdir()
    env = {
        "CHATTERBOX_TTS__MAX_NEW_TOKENS": str(MAX_NEW_TOKENS),
        "CHATTERBOX_TTS__MAX_CHUNK_CHARS": str(MAX_CHUNK_CHARS),
        "CHATTERBOX_LIMITS__MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES),
        "CHATTERBOX_VOICES__INDEX_REFRESH_SECONDS": str(INDEX_REFRESH_SECONDS),
        "CHATTERBOX_VOICES__USAGE_FLUSH_SECONDS": str(USAGE_FLUSH_SECONDS),
        "CHATTERBOX_VOICES__SNAPSHOT_SECONDS": "0",
        "CHATTERBOX_OUTPUTS__SNAPSHOT_SECONDS": "0",
        "CHATTERBOX_OUTPUTS__INDEX_REFRESH_SECONDS": str(INDEX_REFRESH_SECONDS),
        "CHATTERBOX_CONCAT__SYNC_MAX_SECONDS": str(CONCAT_SYNC_MAX_SECONDS),  # a background cache write would upset storage comparisons; tested on its own
        "BENTOML_HOME": str(tmp / "bentoml"),
        "TMPDIR": str(tmpdir),
        "STORAGE_BACKEND": backend,
    } | (extra_env or {})
    if backend == "s3":
        assert moto_endpoint is not None
        bucket = f"chatterbox-test-{port}"
        s3_client(moto_endpoint).create_bucket(Bucket=bucket)
        env |= {"S3_BUCKET": bucket, "S3_PREFIX": "tenant-a", "S3_ENDPOINT_URL": moto_endpoint, "S3_REGION": "us-east-1"}
        storage: Storage = S3Storage(bucket, "tenant-a", moto_endpoint, "us-east-1")
    else:
        env["STORAGE_DIR"] = str(tmp / "data")
        storage = LocalStorage(tmp / "data")
    process = start_bentoml(env, tmp / "serve.log", port)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600, headers=headers)
    return process, RunningService(backend, str(client.base_url), storage, tmpdir, client)


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


@pytest.fixture
def unchanged(service: RunningService, voices: dict[str, str]) -> Iterator[None]:
    """Asserts the request under test changed nothing in storage and left no temp file."""
    state_before, temp_before = service.stored_state(), service.temp_files()
    yield
    assert service.stored_state() == state_before
    assert service.temp_files() - temp_before == set()


def assert_error(response, status: int, field: str | None) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["field"] == field
    assert error["message"]
