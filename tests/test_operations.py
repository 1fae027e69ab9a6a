"""What an operator meets, on a stack of its own because each would disturb the shared
ones: tight rate limits, throttled failed authentication, and SIGTERM with generations in
flight (Kubernetes' rolling update), which ends the stack, so it runs last."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from storage.checker import check_storage
from storage.voices import SNAPSHOT_KEY, record_key
from tests.processes import stop
from tests.stacks import TEST_ENV, RunningService, start_service
from tests.testdata import read_testdata

OPS_KEY, LIMITED_KEY = "ops-key", "limited-key"
RATE, BURST = 2, 10  # rate_limits: requests per second after a burst
FAILED_AUTH_BURST = 3
DRAIN_SECONDS = 10
KUBERNETES_GRACE_SECONDS = 30  # what a pod gets between SIGTERM and SIGKILL by default
LONG_TEXT = ("This sentence keeps the model busy for a long while. " * 190)[:9_990]  # TTSRequest's maximum is 10,000


@pytest.fixture(scope="module")
def ops_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    env = TEST_ENV | {
        "API_KEYS": f"{OPS_KEY},{LIMITED_KEY}",
        "CHATTERBOX_RATE_LIMITS__REQUESTS_PER_SECOND": str(RATE),
        "CHATTERBOX_RATE_LIMITS__BURST": str(BURST),
        "CHATTERBOX_RATE_LIMITS__FAILED_AUTH_BURST": str(FAILED_AUTH_BURST),
        "CHATTERBOX_RATE_LIMITS__TRUST_FORWARDED_FOR": "true",  # the tests play several client addresses
        "CHATTERBOX_SHUTDOWN__DRAIN_SECONDS": str(DRAIN_SECONDS),
        "CHATTERBOX_VOICES__USAGE_FLUSH_SECONDS": "3600",  # only the shutdown flush can write the use counts
        "CHATTERBOX_VOICES__SNAPSHOT_SECONDS": "3600",  # and the snapshot
    }
    running = start_service("local", tmp_path_factory.mktemp("ops"), None, env, api_key=OPS_KEY)  # short path: BentoML's socket paths must fit
    yield running
    running.client.close()
    if running.process.poll() is None:
        stop(running.process)


def test_rate_limit_is_per_key_with_retry_after_in_both_shapes(ops_stack: RunningService) -> None:
    limited = {"Authorization": f"Bearer {LIMITED_KEY}"}
    started = time.monotonic()
    statuses = [ops_stack.client.get("/api/v1/voices", headers=limited).status_code for _ in range(3 * BURST)]
    allowed = BURST + RATE * (time.monotonic() - started) + 1
    assert 429 in statuses and statuses.count(200) <= allowed, statuses
    refused = ops_stack.client.get("/api/v1/voices", headers=limited)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert refused.json()["error"]["type"] == "rate_limit_exceeded"
    openai = ops_stack.client.get("/v1/models", headers=limited)
    assert openai.status_code == 429 and openai.headers["retry-after"]
    assert openai.json()["error"]["type"] == "requests" and openai.json()["error"]["code"] == "rate_limit_exceeded"
    assert ops_stack.client.get("/api/v1/voices").status_code == 200  # another key has its own bucket
    assert ops_stack.client.get("/api/v1/health").status_code == 200  # probes are never limited


def test_failed_authentication_is_throttled_per_address(ops_stack: RunningService) -> None:
    guesser = {"X-Forwarded-For": "203.0.113.7"}
    with httpx.Client(base_url=ops_stack.base_url, timeout=60) as client:
        answers = [client.get("/api/v1/voices", headers=guesser | {"Authorization": f"Bearer guess-{n}"}) for n in range(FAILED_AUTH_BURST + 2)]
        assert [a.status_code for a in answers] == [401] * FAILED_AUTH_BURST + [429, 429]
        assert int(answers[-1].headers["retry-after"]) >= 1 and "API key" in answers[-1].json()["error"]["message"]
        # the address is locked out even with the right key (guessing gains nothing) ...
        assert client.get("/api/v1/voices", headers=guesser | {"Authorization": f"Bearer {OPS_KEY}"}).status_code == 429
        # ... while other clients are not
        assert client.get("/api/v1/voices", headers={"X-Forwarded-For": "198.51.100.2", "Authorization": f"Bearer {OPS_KEY}"}).status_code == 200


def test_sigterm_drains_in_flight_work_then_exits_with_state_flushed(ops_stack: RunningService) -> None:
    """Defect: SIGTERM during a generation left the runner at full CPU 90 s later, so the
    counters and snapshots written on shutdown were lost to Kubernetes' SIGKILL at 30 s."""
    service = ops_stack
    created = service.client.post("/api/v1/voice", files={"file": ("alex.wav", read_testdata("voice_alex.wav"))}, data={"name": "drained"})
    assert created.status_code == 201, created.text
    warm = service.client.post("/api/v1/tts", json={"text": "Warm up.", "voice": "drained", "seed": 1})
    assert warm.status_code == 200, warm.text
    answers: dict[str, httpx.Response] = {}

    def send(label: str, method: str, path: str, **options: object) -> None:
        with service.new_client() as client:
            answers[label] = client.request(method, path, **options)

    # the long one keeps the TTS runner busy past the drain; the short one (VC: the other
    # runner) finishes within it; on a fast machine it may finish before SIGTERM: then it passes trivially
    long_one = threading.Thread(target=send, args=("long", "POST", "/api/v1/tts"), kwargs={"json": {"text": LONG_TEXT, "voice": "drained", "seed": 1}})
    short_one = threading.Thread(
        target=send, args=("short", "POST", "/api/v1/vc"),
        kwargs={"files": {"input_audio": ("src.wav", read_testdata("source_speech_16k.wav"))}, "data": {"target_voice": "drained"}},
    )
    long_one.start()
    short_one.start()
    deadline = time.monotonic() + 120
    while service.health()["generations"]["in_flight"] < (1 if "short" in answers else 2):
        assert time.monotonic() < deadline, "the requests never started"
        time.sleep(0.05)

    signalled = time.monotonic()
    service.process.send_signal(signal.SIGTERM)  # the arbiter only, as Kubernetes does
    short_one.join(timeout=120)
    long_one.join(timeout=120)
    service.process.wait(timeout=KUBERNETES_GRACE_SECONDS + 30)
    exited = time.monotonic() - signalled

    assert answers["short"].status_code == 200, answers["short"].text
    cut = answers["long"]
    assert cut.status_code == 503, cut.text[:300]
    assert cut.json()["error"]["type"] == "shutting_down" and cut.headers["retry-after"]
    assert exited < KUBERNETES_GRACE_SECONDS, f"exit took {exited:.1f} s after SIGTERM"

    record = json.loads(service.storage.get(record_key("drained")))
    assert record["usage_count"] == 2  # warm-up and VC, written by the shutdown flush (the cut request counts no use)
    assert service.storage.exists(SNAPSHOT_KEY)  # and the index snapshot
    report = check_storage(service.storage, min_age_seconds=0)
    assert report.clean, report.model_dump_json(indent=2)
    assert not [path for path in service.tmpdir.rglob("*") if path.is_file() and path.name.startswith(("decode-", "concat-"))]
