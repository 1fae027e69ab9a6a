"""The served stacks the HTTP tests share: what each is configured with, and why it exists.

A stack is one `bentoml serve` (API service, one runner per enabled TTS model, VC runner)
with random-weight models (`make serve`'s defaults otherwise: the small S3Gen, plausible utterance lengths).
Starting one costs about 25 s of CPU, so the suite starts two, each once per session, and
every setting that changes behaviour is on in one and off in the other, so both sides of it
run every test that uses `service`:

| stack   | storage | database   | runner batching | API keys | also                                                   |
| ------- | ------- | ---------- | --------------- | -------- | ------------------------------------------------------ |
| `local` | folder  | SQLite     | on              | on       | all three models; OpenAI voice aliases and predefined voices, 429 past 4; S3Gen renders in batches of up to 4 |
| `s3`    | moto S3 | PostgreSQL | off             | off      | the original model only; the defaults for the rest (renders one at a time) |

Everything else (`TEST_ENV`) is the same in both: shorter chunks so short texts still make
several, one T3 layer, quick copies of use counts to storage.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx
import soundfile as sf

from config import DatabaseSettings
from contract.families import MODEL_NAMES
from contract.voice_layout import is_record_key
from db import Database
from harness.processes import RANDOM_MODEL_ENV, ROOT, S3_CREDENTIALS, free_port, kill, launch, one_service_env, serve_command, start_bentoml, start_moto, stop, wait_ready, wait_until
from harness.tcp_proxy import TCPProxy
from harness.testdata import TESTDATA
from outputs.records import OutputRecords
from outputs.store import OutputMetadata, OutputStore
from runners.tts_runner import TTS_RUNNERS
from runners.vc_runner import VCRunner
from storage import Storage
from storage.local import LocalStorage
from storage.s3 import S3Storage
from voices.metadata import USAGE_FIELDS

MAX_CHUNK_CHARS = 60  # so short test texts still make several chunks
FIRST_CHUNK_CHARS = 20  # streamed speech: the first group is at most this long
CHUNKS_IN_FLIGHT = 2  # a long text leaves room in every batch for short requests
MAX_UPLOAD_BYTES = 2 * 1024 * 1024
USAGE_FLUSH_SECONDS = 1
CONCAT_SYNC_MAX_SECONDS = 30  # longer concatenations answer 202 and run as jobs
MAX_PENDING = 4  # the local stack's limits.max_pending_generations
RENDER_BATCH = 4  # the local stack renders in S3Gen batches as a GPU does (auto, 1, on the S3 stack)
KV_CACHE = "static"  # and decodes in T3's static KV cache as a GPU does (auto, dynamic, on the S3 stack)
API_KEYS = ("key-one", "key-two")
LIBRARY_VOICE = "short-alex"  # the OpenAI tests' library voice, which the alias `alloy` names
VOICE_ALIASES = {"alloy": LIBRARY_VOICE, "narrator-x": "not-in-the-library"}
REALTIME_IDLE_SECONDS = 4  # the WebSocket's idle and stalled-client limits, short enough to wait out in a test
REALTIME_MAX_BUFFERED_CHARS = 1000
DEFAULT_VOICE = "bella-file"  # a predefined file: what every other OpenAI voice name (nova, shimmer...) speaks with
PREDEFINED_CLIP_SECONDS = 1.5

TEST_ENV = {  # every test stack
    "CHATTERBOX_MODEL__RANDOM_T3_LAYERS": "1",  # T3 decoding is most of a test's model time; one layer is the same code path
    "CHATTERBOX_TTS__MAX_CHUNK_CHARS": str(MAX_CHUNK_CHARS),
    "CHATTERBOX_TTS__STREAM_FIRST_CHUNK_CHARS": str(FIRST_CHUNK_CHARS),
    "CHATTERBOX_TTS__CHUNKS_IN_FLIGHT": str(CHUNKS_IN_FLIGHT),
    "CHATTERBOX_LIMITS__MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES),
    "CHATTERBOX_VOICES__USAGE_FLUSH_SECONDS": str(USAGE_FLUSH_SECONDS),
    "CHATTERBOX_CONCAT__SYNC_MAX_SECONDS": str(CONCAT_SYNC_MAX_SECONDS),
}


def s3_client(endpoint: str):
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")


@dataclass
class RunnerPod:
    """A runner service served alone, as its Kubernetes pod runs it (`deploy/kubernetes`):
    killing its process is the pod dying, `start` its replacement at the same address (the
    same Kubernetes Service)."""

    service: str
    port: int
    env: dict[str, str]
    log: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> RunnerPod:
        self.process = launch(serve_command(self.port, alone=True), self.env | one_service_env(service=self.service), self.log)
        return self

    def wait_ready(self) -> None:
        assert self.process is not None
        wait_ready(self.process, self.port, self.log, path="/readyz")

    def replica(self, index: int) -> RunnerPod:
        """Another pod of the same runner (a scale-up), with a BentoML home of its own."""
        return RunnerPod(self.service, free_port(), self.env | {"BENTOML_HOME": f"{self.env['BENTOML_HOME']}-replica{index}"}, self.log.with_name(f"{self.service}-replica{index}.log"))

    def kill(self) -> None:
        """The pod dies: every process in it at once."""
        assert self.process is not None
        kill(self.process)


def runner_pods(env: dict[str, str], tmp: Path) -> dict[str, RunnerPod]:
    """One pod per runner of the models `env` enables, and the VC runner's."""
    models = env.get("CHATTERBOX_MODELS", RANDOM_MODEL_ENV["CHATTERBOX_MODELS"]).split(",")
    services = [TTS_RUNNERS[model].name for model in models] + [VCRunner.name]
    # each pod a BentoML home of its own, as on Kubernetes: `start-http-server` empties its
    # Prometheus folder when it starts, which would drop the metrics of pods started before
    return {
        service: RunnerPod(service, free_port(), env | {"BENTOML_HOME": str(tmp / f"pod{index}")}, tmp / f"{service}.log")
        for index, service in enumerate(services)
    }


@dataclass
class RunningService:
    """A served stack as the tests see it: its URL, a client (with a key when keys are on),
    and the storage it writes to."""

    backend: str
    base_url: str
    storage: Storage
    tmpdir: Path
    client: httpx.Client
    headers: dict[str, str]
    process: subprocess.Popen
    env: dict[str, str]  # what the stack was started with, on top of config/default.yaml
    runners: dict[str, RunnerPod] = field(default_factory=dict)  # the split topology's runner processes, by service name
    runner_services: dict[str, TCPProxy] = field(default_factory=dict)  # the address the API calls each runner at (a Kubernetes Service), by service name
    _records: dict[tuple[str, str], object] = field(default_factory=dict)

    def new_client(self) -> httpx.Client:
        """Another client of this stack (its own connections), with the key when keys are on."""
        return httpx.Client(base_url=self.base_url, headers=self.headers, timeout=600)

    def async_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, headers=self.headers, timeout=600)

    @contextmanager
    def hung_up_request(self, method: str, path: str, **options: Any) -> Iterator[None]:
        """Sends a whole request on a connection of its own that never reads the answer; the
        client hangs up (closes it) when the block ends."""
        request = self.client.build_request(method, path, **options)
        head = f"{method} {request.url.raw_path.decode()} HTTP/1.1\r\n" + "".join(f"{name}: {value}\r\n" for name, value in request.headers.items())
        with socket.create_connection((request.url.host, request.url.port)) as connection:
            connection.sendall(head.encode() + b"\r\n" + request.read())
            yield

    def race(self, requests: list[tuple[str, str, dict[str, Any]]]) -> list[httpx.Response]:
        """(method, path, options) all at once, each on a connection of its own, released
        together by a barrier; every one must be answered."""
        start = threading.Barrier(len(requests))
        responses: list[httpx.Response | None] = [None] * len(requests)

        def send(index: int, method: str, path: str, options: dict[str, Any]) -> None:
            with self.new_client() as client:
                start.wait()
                responses[index] = client.request(method, path, **options)

        threads = [threading.Thread(target=send, args=(index, *request)) for index, request in enumerate(requests)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        assert all(response is not None for response in responses), "a request got no answer"
        return [response for response in responses if response is not None]

    @property
    def processes(self) -> list[subprocess.Popen]:
        """The stack's main processes: `bentoml serve` (or the API alone), and each runner pod's."""
        return [self.process, *(pod.process for pod in self.runners.values() if pod.process is not None)]

    @property
    def log(self) -> Path:
        """The stack's log: every process's lines, with BentoML's access line per request."""
        return self.tmpdir.parent / "serve.log"

    def database(self) -> Database:
        """The stack's metadata database, opened as another replica would (close it after)."""
        settings = DatabaseSettings(url=self.env.get("DATABASE_URL"), pool_size=2, connect_timeout_seconds=5)
        return Database.from_settings(settings, Path(self.env["STORAGE_DIR"]))

    def plant_output(self, audio: bytes, metadata: OutputMetadata) -> None:
        """An output written as another replica would write it (its audio and companion in
        storage, its row in the database), whatever the audio holds."""
        OutputStore(self.storage).save(audio, metadata)
        database = self.database()
        try:
            with database.write() as connection:
                OutputRecords().insert(connection, [metadata])
        finally:
            database.close()

    def health(self) -> dict:
        return self.client.get("/api/v1/health").json()

    def stored_output(self, filename: str) -> dict:
        """An output's stored metadata, once it is listed: a streamed output is stored just
        after its response ended, so a client may ask before it is there."""
        wait_until(lambda: self.client.get("/api/v1/outputs", params={"names": filename}).json()["items"], 60, f"output {filename} stored")
        return json.loads(self.storage.get(f"outputs/{filename.rsplit('.', 1)[0]}.json"))

    def stored_keys(self) -> set[str]:
        return set(self.storage.list_keys(""))

    def stored_state(self) -> dict[str, object]:
        """Every object by key: its version, or for a voice record its content less the use
        counters (a use flushed in the background is not a change a request made). One
        listing; a record is read only when its version is new since the last look, so the
        cost follows what tests changed, not the size of the store."""
        state: dict[str, object] = {}
        for info in self.storage.list_objects(""):
            if not is_record_key(info.key):
                state[info.key] = info.version
                continue
            seen = (info.key, info.version)
            if seen not in self._records:
                data, version = self.storage.get_versioned(info.key)  # the version may be newer than listed
                seen = (info.key, version)
                self._records[seen] = {k: v for k, v in json.loads(data).items() if k not in USAGE_FIELDS}
            state[info.key] = self._records[seen]
        return state

    def temp_files(self) -> set[Path]:
        """Files in the service's TMPDIR (libraries leave a few at import; compare sets)."""
        return {path for path in self.tmpdir.rglob("*") if path.is_file()}


def write_clip(source: str, destination: Path, seconds: float = PREDEFINED_CLIP_SECONDS) -> None:
    """The first `seconds` of a test clip, in the format the destination's suffix names."""
    samples, rate = sf.read(TESTDATA / source, dtype="float32")
    destination.parent.mkdir(parents=True, exist_ok=True)
    sf.write(destination, samples[: int(seconds * rate)], rate)


def start_service(backend: str, tmp: Path, moto_endpoint: str | None, env: dict[str, str], api_key: str | None = None, root: Path = ROOT,
                  split: bool = False) -> RunningService:
    """`bentoml serve` on `backend` storage with `env` on top of the random-model defaults,
    or with `split`, the API and each runner as processes of their own talking over HTTP, as
    the Kubernetes pods do, each runner behind a TCP balancer as behind its Kubernetes
    Service (`runner_services`); returns once /api/v1/health answers 200."""
    port = free_port()
    tmpdir = tmp / "tmp"
    tmpdir.mkdir()
    # STORAGE_DIR on S3 too: a stack without DATABASE_URL keeps its SQLite there, never in the checkout
    env = {"BENTOML_HOME": str(tmp / "bentoml"), "TMPDIR": str(tmpdir), "STORAGE_BACKEND": backend, "STORAGE_DIR": str(tmp / "data")} | env
    if backend == "s3":
        assert moto_endpoint is not None
        bucket = f"chatterbox-test-{port}"
        s3_client(moto_endpoint).create_bucket(Bucket=bucket)
        env |= {"S3_BUCKET": bucket, "S3_PREFIX": "tenant-a", "S3_ENDPOINT_URL": moto_endpoint, "S3_REGION": "us-east-1"}
        storage: Storage = S3Storage(bucket, "tenant-a", moto_endpoint, "us-east-1")
    else:
        storage = LocalStorage(tmp / "data")
    runners: dict[str, RunnerPod] = {}
    services: dict[str, TCPProxy] = {}
    if split:
        runners = runner_pods(env, tmp)
        for pod in runners.values():
            pod.start()
        for pod in runners.values():
            pod.wait_ready()
        services = {name: TCPProxy("127.0.0.1", pod.port).start() for name, pod in runners.items()}
        depends = one_service_env(depends={name: service.endpoint for name, service in services.items()})
        api = launch(serve_command(port, alone=True), env | depends, tmp / "serve.log", root)
        process = wait_ready(api, port, tmp / "serve.log")
    else:
        process = start_bentoml(env, tmp / "serve.log", port, root=root)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    base_url = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=base_url, timeout=600, headers=headers)
    return RunningService(backend, base_url, storage, tmpdir, client, headers, process, env, runners, services)


def start_api_replica(stack: RunningService, tmp: Path, api_key: str | None = None) -> RunningService:
    """Another API replica of a split stack, as a second API pod runs it: the same
    configuration (storage, database, keys), calling the same runner Services, a process and
    a BentoML home of its own. Stop its `process` when done."""
    assert stack.runner_services, "only a split stack's runners can be shared"
    port = free_port()
    tmpdir = tmp / "tmp"
    tmpdir.mkdir()
    env = stack.env | {"BENTOML_HOME": str(tmp / "bentoml"), "TMPDIR": str(tmpdir)}
    depends = one_service_env(depends={name: service.endpoint for name, service in stack.runner_services.items()})
    process = wait_ready(launch(serve_command(port, alone=True), env | depends, tmp / "serve.log"), port, tmp / "serve.log")
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    base_url = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=base_url, timeout=600, headers=headers)
    return RunningService(stack.backend, base_url, stack.storage, tmpdir, client, headers, process, env)


@contextmanager
def benchmark_stack(backend: str, work: Path, env: dict[str, str], root: Path = ROOT) -> Iterator[RunningService]:
    """A stack for a benchmark script (with a moto server of its own for `s3`), stopped on
    exit; `root`: another checkout to serve (a benchmark's baseline)."""
    moto = endpoint = None
    if backend == "s3":
        os.environ.update(S3_CREDENTIALS)
        moto, endpoint = start_moto(work / "moto.log")
    service = start_service(backend, work, endpoint, env, root=root)
    try:
        yield service
    finally:
        stop(service.process)
        if moto is not None:
            stop(moto)


def local_stack_env(tmp: Path) -> dict[str, str]:
    """The local stack: batched runners, API keys, and the OpenAI routes' voice aliases,
    predefined-voices folder (two 1.5 s clips, one in a subfolder) and default voice."""
    predefined = tmp / "predefined"
    write_clip("voice_bella.wav", predefined / "bella-file.wav")
    write_clip("voice_alex.wav", predefined / "narrators" / "carol.flac")
    return TEST_ENV | {
        "CHATTERBOX_MODELS": ",".join(MODEL_NAMES),  # every family of the table
        "API_KEYS": ",".join(API_KEYS),
        "CHATTERBOX_OPENAI__VOICE_ALIASES": json.dumps(VOICE_ALIASES),
        "CHATTERBOX_OPENAI__PREDEFINED_VOICES_DIR": str(predefined),
        "CHATTERBOX_OPENAI__DEFAULT_VOICE": DEFAULT_VOICE,
        "CHATTERBOX_LIMITS__MAX_PENDING_GENERATIONS": str(MAX_PENDING),
        "CHATTERBOX_RUNNER__RENDER_BATCH": str(RENDER_BATCH),
        "CHATTERBOX_MODEL__KV_CACHE": KV_CACHE,
        "CHATTERBOX_REALTIME__IDLE_SECONDS": str(REALTIME_IDLE_SECONDS),
        "CHATTERBOX_REALTIME__STALLED_CLIENT_SECONDS": str(REALTIME_IDLE_SECONDS),
        "CHATTERBOX_REALTIME__MAX_BUFFERED_CHARS": str(REALTIME_MAX_BUFFERED_CHARS),
        "CHATTERBOX_REALTIME__OUTBOX_BYTES": "65536",  # a client that stops reading stalls sooner
    }


def s3_stack_env(database_url: str) -> dict[str, str]:
    """The S3 stack: PostgreSQL at `database_url`, runner batching off (the unbatched baseline), no API keys."""
    return TEST_ENV | {"CHATTERBOX_RUNNER__BATCHING": "false", "DATABASE_URL": database_url}
