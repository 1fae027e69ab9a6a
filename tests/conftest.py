"""Fixtures that run the real thing: `bentoml serve` with random-weight Chatterbox models, on
local-folder storage with SQLite and on a moto S3 server with PostgreSQL, reached over HTTP. Which stacks exist and why:
`harness/stacks.py`. Each starts once per session, on first use."""

from __future__ import annotations

import os
from collections.abc import Iterator

import huggingface_hub.constants
import pytest
from chatterbox.tts import ChatterboxTTS

from config import DatabaseSettings
from db import Database
from db.migrate import upgrade
from harness.model_settings import random_model_settings
from harness.postgres import PostgresServer
from harness.processes import S3_CREDENTIALS, start_moto, stop
from harness.stacks import API_KEYS, RunningService, local_stack_env, s3_client, s3_stack_env, start_service
from harness.testdata import read_testdata
from models.loader import Loaded, load_tts
from storage import Storage
from storage.local import LocalStorage
from storage.s3 import S3Storage

os.environ.update(S3_CREDENTIALS)  # the test process only ever talks to moto
STACK_LOG_LINES = 60  # of a served stack's log, shown with a test that failed against it


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """A test that failed against a served stack shows the end of the stack's log beside its
    traceback: a 500 seen only under a full run is explained by what the service logged,
    which is gone with the session's temp folder."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    for value in getattr(item, "funcargs", {}).values():
        running = getattr(value, "running", value)  # a stack, or a fixture wrapping one
        if isinstance(running, RunningService) and running.log.exists():
            lines = running.log.read_text(errors="replace").splitlines()[-STACK_LOG_LINES:]
            report.sections.append((f"served stack log ({running.backend}), last {len(lines)} lines", "\n".join(lines)))
            return


@pytest.fixture
def hub_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hub answers at once with 'offline' instead of retrying a dead network."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HOME", "/nonexistent-hf-cache")


@pytest.fixture(scope="session")
def random_tts() -> Loaded[ChatterboxTTS]:
    """One random-weight TTS model, shared by the modules that build engines in-process."""
    return load_tts(random_model_settings())


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real S3-compatible HTTP endpoint on 127.0.0.1 (moto's server mode)."""
    process, endpoint = start_moto(tmp_path_factory.mktemp("moto") / "moto.log")
    yield endpoint
    stop(process)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server (initdb + pg_ctl in a temp folder) for the session."""
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path) -> Iterator[Database]:
    """A new, migrated metadata database on each engine."""
    url = request.getfixturevalue("postgres").new_database() if request.param == "postgresql" else None  # None: SQLite in the storage folder
    database = Database.from_settings(DatabaseSettings(url=url, pool_size=5, connect_timeout_seconds=5), tmp_path / "store")
    upgrade(database)
    yield database
    database.close()


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path) -> Iterator[Storage]:
    if request.param == "local":
        yield LocalStorage(tmp_path / "store")
        return
    endpoint = request.getfixturevalue("moto_endpoint")
    bucket = f"unit-{tmp_path.name.lower().replace('_', '-')[-40:]}"
    s3_client(endpoint).create_bucket(Bucket=bucket)
    yield S3Storage(bucket, "prefix/", endpoint, "us-east-1")


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    """Local-folder storage, batched runners, API keys on (the client sends one)."""
    tmp = tmp_path_factory.mktemp("stack-local")
    running = start_service("local", tmp, None, local_stack_env(tmp), api_key=API_KEYS[0])
    yield running
    running.client.close()
    stop(running.process)


@pytest.fixture(scope="session")
def s3_stack(tmp_path_factory: pytest.TempPathFactory, moto_endpoint: str, postgres: PostgresServer) -> Iterator[RunningService]:
    """moto S3 storage, PostgreSQL, unbatched runners, no API keys."""
    running = start_service("s3", tmp_path_factory.mktemp("stack-s3"), moto_endpoint, s3_stack_env(postgres.new_database()))
    yield running
    running.client.close()
    stop(running.process)


@pytest.fixture(scope="session", params=["local", "s3"])
def service(request: pytest.FixtureRequest) -> RunningService:
    """The whole service on each storage backend (each stack also differs in batching and
    API keys: both sides of those run every test here too)."""
    return request.getfixturevalue(f"{request.param}_stack")


@pytest.fixture(scope="session")
def voices(service: RunningService) -> dict[str, str]:
    """Two library voices, uploaded once per stack."""
    names = {"alex": "voice_alex.wav", "bella": "voice_bella.wav"}
    for name, filename in names.items():
        response = service.client.post(
            "/api/v1/voice", files={"file": (filename, read_testdata(filename))}, data={"name": f"fixture-{name}"}
        )
        assert response.status_code == 201, response.text
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
