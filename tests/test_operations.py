"""What an operator meets, on a stack of its own because each would disturb the shared
ones: tight rate limits, throttled failed authentication, S3 going away and coming back
(through a proxy in front of moto), a slow S3, downloads redirected to S3, a runner's caller
hanging up mid-decode, a runner scaled up under load (the new pod gets its share), a runner's pod killed mid-generation and replaced, and SIGTERM to every pod with generations in flight
(a rolling update or a node drain), which ends the stack, so it runs last.

The stack runs as `deploy/kubernetes` runs it: the API and each runner are processes of
their own (`bentoml start-http-server`, one service each) talking over HTTP, each runner
behind a TCP balancer as behind its Kubernetes Service."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from audio.decoding import decode
from contract.runner_jobs import TTSJob, unstored_reference
from contract.voice_layout import record_key
from harness.metrics import metric_samples
from harness.postgres import PostgresServer
from harness.processes import kill, stop, wait_until
from harness.stacks import TEST_ENV, RunnerPod, RunningService, start_api_replica, start_service
from harness.tcp_proxy import TCPProxy
from harness.testdata import read_testdata
from maintenance.storage_check import check_storage

OPS_KEY, LIMITED_KEY, REPLICA_KEY = "ops-key", "limited-key", "replica-key"
JOB_HEARTBEAT_SECONDS = 0.5  # a killed replica's job is taken over after 10 missed beats
SECOND_API_KEY = "second-api-key"  # the second API replica's client: every key's bucket is shared by both replicas
RATE, BURST = 2, 10  # rate_limits: requests per second after a burst
FAILED_AUTH_BURST = 3
DRAIN_SECONDS = 10
KUBERNETES_GRACE_SECONDS = 30  # what a pod gets between SIGTERM and SIGKILL by default
FAULT_VOICE = "fault-voice"
CONNECTION_MAX_AGE_SECONDS = 2
SCALE_UP_SHARE = 0.4  # of the calls after a new runner pod is ready, what it must get within a minute
LONG_TEXT = ("This sentence keeps the model busy for a long while. " * 190)[:9_990]  # TTSRequest's maximum is 10,000


@pytest.fixture(scope="module")
def s3_proxy(moto_endpoint: str) -> Iterator[TCPProxy]:
    host, port = moto_endpoint.removeprefix("http://").split(":")
    proxy = TCPProxy(host, int(port)).start()
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def ops_postgres() -> Iterator[PostgresServer]:
    """The ops stack's own PostgreSQL server: its outage test stops it without touching the
    session's."""
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def ops_stack(tmp_path_factory: pytest.TempPathFactory, s3_proxy: TCPProxy, ops_postgres: PostgresServer) -> Iterator[RunningService]:
    env = TEST_ENV | {
        "DATABASE_URL": ops_postgres.new_database(),
        "API_KEYS": f"{OPS_KEY},{LIMITED_KEY},{REPLICA_KEY},{SECOND_API_KEY}",
        "CHATTERBOX_RATE_LIMITS__REQUESTS_PER_SECOND": str(RATE),
        "CHATTERBOX_RATE_LIMITS__BURST": str(BURST),
        "CHATTERBOX_RATE_LIMITS__FAILED_AUTH_BURST": str(FAILED_AUTH_BURST),
        "CHATTERBOX_RATE_LIMITS__TRUST_FORWARDED_FOR": "true",  # the tests play several client addresses
        "CHATTERBOX_SHUTDOWN__DRAIN_SECONDS": str(DRAIN_SECONDS),
        "CHATTERBOX_VOICES__USAGE_FLUSH_SECONDS": "3600",  # only the shutdown flush can write the use counts
        "CHATTERBOX_OUTPUTS__DOWNLOAD_MODE": "redirect",
        "CHATTERBOX_RUNNER__CONNECTION_MAX_AGE_SECONDS": str(CONNECTION_MAX_AGE_SECONDS),
        "CHATTERBOX_CONCAT__JOB_HEARTBEAT_SECONDS": str(JOB_HEARTBEAT_SECONDS),
    }
    running = start_service("s3", tmp_path_factory.mktemp("ops"), s3_proxy.endpoint, env, api_key=OPS_KEY, split=True)  # short path: BentoML's socket paths must fit
    yield running
    running.client.close()
    for process in running.processes:
        if process.poll() is None:
            stop(process)


@pytest.fixture(scope="module")
def replica(ops_stack: RunningService, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    """A second API replica of the ops stack: one PostgreSQL, one bucket, the same runners."""
    running = start_api_replica(ops_stack, tmp_path_factory.mktemp("replica"), api_key=SECOND_API_KEY)
    yield running
    running.client.close()
    stop(running.process)


@pytest.fixture(scope="module")
def fault_voice(ops_stack: RunningService) -> str:
    """The library voice the tests that need a stored voice speak with (whichever runs first)."""
    upload = {"files": {"file": ("alex.wav", read_testdata("voice_alex.wav"))}}
    assert ops_stack.client.post("/api/v1/voice", data={"name": FAULT_VOICE}, **upload).status_code == 201
    return FAULT_VOICE


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


def test_a_voice_written_on_one_replica_is_listed_and_used_on_the_other_at_once(ops_stack: RunningService, replica: RunningService) -> None:
    upload = {"files": {"file": ("alex.wav", read_testdata("voice_alex.wav"))}}
    assert ops_stack.client.post("/api/v1/voice", data={"name": "Across", "folder": "replicas"}, **upload).status_code == 201
    assert [v["name"] for v in replica.client.get("/api/v1/voices", params={"folder": "replicas"}).json()["items"]] == ["Across"]
    spoken = replica.client.post("/api/v1/tts", json={"text": "Spoken on the other replica.", "voice": "across"})
    assert spoken.status_code == 200, spoken.text
    made = spoken.json()["filename"]
    assert ops_stack.client.get("/api/v1/outputs", params={"names": made}).json()["total"] == 1  # its output, listed on the first
    assert ops_stack.client.get("/api/v1/voice/across").json()["voice"]["usage_count"] == 1  # its use, counted for both

    etag = ops_stack.client.get("/api/v1/voice/across").headers["etag"]
    patches = [(stack.client, {"description": f"from replica {n}"}) for n, stack in enumerate((ops_stack, replica))]
    start = threading.Barrier(2)
    answers: list[httpx.Response] = []

    def patch(client: httpx.Client, body: dict) -> None:
        start.wait()
        answers.append(client.put("/api/v1/voice/across/metadata", json=body, headers={"If-Match": etag}))

    threads = [threading.Thread(target=patch, args=item) for item in patches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(a.status_code for a in answers) == [200, 412], [a.text for a in answers]
    winner = next(a for a in answers if a.status_code == 200).json()["voice"]["description"]
    assert replica.client.get("/api/v1/voice/across").json()["voice"]["description"] == winner

    assert replica.client.delete("/api/v1/voice/across", params={"confirm": "true"}).status_code == 200
    assert ops_stack.client.get("/api/v1/voice/across").status_code == 404


def test_one_keys_rate_limit_holds_across_replicas(ops_stack: RunningService, replica: RunningService) -> None:
    """With buckets per replica, a client alternating between two would get twice its limit."""
    key = {"Authorization": f"Bearer {REPLICA_KEY}"}
    started = time.monotonic()
    statuses = [(ops_stack if n % 2 else replica).client.get("/api/v1/voices", headers=key).status_code for n in range(2 * BURST)]
    allowed = BURST + RATE * (time.monotonic() - started) + 1
    assert statuses.count(200) <= allowed < 2 * BURST and 429 in statuses[::2] and 429 in statuses[1::2], statuses


def test_a_job_is_run_once_and_outlives_a_killed_replica(ops_stack: RunningService, replica: RunningService, fault_voice: str) -> None:
    """Both replicas poll the queue; the job submitted to the second runs there (it is woken
    at once), and the second is killed mid-job (SIGKILL: no hand-back, its heartbeat just
    stops). The first takes the job over, runs it from the start and says so; it is never
    run twice at once nor lost. Runs last of the tests that use the second replica."""
    body = {"inputs": [{"voice": fault_voice}] * 60, "noise_reduction": True, "normalize": "loudness", "sample_rate": 8000}

    def job_once(job_id: str, statuses: tuple[str, ...]) -> dict:
        """Polled slowly: every key is rate-limited (RATE a second) on both replicas together."""
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            found = ops_stack.client.get(f"/api/v1/jobs/{job_id}").json()
            if found.get("status") in statuses:
                return found
            time.sleep(1.5 / RATE)
        raise TimeoutError(f"job {job_id} not {statuses}")

    for _ in range(3):  # in the rare case the first replica's poll claims it first, try again
        submitted = replica.client.post("/api/v1/concat", json=body)
        assert submitted.status_code == 202, submitted.text
        job_id = submitted.json()["id"]
        job_once(job_id, ("running", "succeeded", "failed"))
        if f"job {job_id} started" in replica.log.read_text():
            break
        job_once(job_id, ("succeeded",))
    else:
        pytest.fail("the second replica never claimed a job submitted to it")
    kill(replica.process)
    done = job_once(job_id, ("succeeded", "failed"))
    assert done["status"] == "succeeded" and done["attempts"] == 2, done
    assert f"job {job_id} started (attempt 2)" in ops_stack.log.read_text()
    assert ops_stack.client.get("/api/v1/outputs", params={"names": done["result"]["filename"]}).json()["total"] == 1
    assert not list(ops_stack.storage.list_keys(f"job-inputs/{job_id}/"))


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


def in_background(service: RunningService, answers: dict[str, httpx.Response], label: str, method: str, path: str, **options: Any) -> threading.Thread:
    """The request on a thread of its own (started); its answer lands in `answers[label]`."""

    def send() -> None:
        with service.new_client() as client:
            answers[label] = client.request(method, path, **options)

    thread = threading.Thread(target=send)
    thread.start()
    return thread


def speak_in_background(service: RunningService, text: str, answers: dict[str, httpx.Response], label: str) -> threading.Thread:
    thread = in_background(service, answers, label, "POST", "/api/v1/tts", json={"text": text, "voice": FAULT_VOICE, "seed": 2})
    wait_until(lambda: service.health()["generations"]["in_flight"] >= 1 or label in answers, 120, "generation started")
    return thread


def assert_clean_5xx(response: httpx.Response, status: int, error_type: str) -> None:
    assert response.status_code == status, response.text[:300]
    error = response.json()["error"]
    assert error["type"] == error_type and error["request_id"] == response.headers["x-request-id"]
    assert not any(word in response.text for word in ("Traceback", "botocore", "Exception", "127.0.0.1"))


def test_storage_outage_answers_503_and_recovers_without_restart(ops_stack: RunningService, s3_proxy: TCPProxy, fault_voice: str) -> None:
    service = ops_stack
    upload = {"files": {"file": ("alex.wav", read_testdata("voice_alex.wav"))}}
    answers: dict[str, httpx.Response] = {}
    speaking = speak_in_background(service, "The storage goes away while this is being said, so it cannot be stored.", answers, "cut")
    s3_proxy.down()
    try:
        speaking.join(timeout=300)
        assert_clean_5xx(answers["cut"], 503, "storage_unavailable")
        assert_clean_5xx(service.client.post("/api/v1/voice", data={"name": "during-outage"}, **upload), 503, "storage_unavailable")
        health = service.client.get("/api/v1/health")
        assert health.status_code == 503 and health.json()["storage"]["ready"] is False
        assert "not reachable" in health.json()["storage"]["error"] and "127.0.0.1" not in health.text
        assert service.client.get("/api/v1/voices").status_code == 200  # listings come from the database
    finally:
        s3_proxy.up()
    wait_until(lambda: service.client.get("/api/v1/health").status_code == 200, 120, "storage back")
    assert service.client.post("/api/v1/tts", json={"text": "Back again.", "voice": FAULT_VOICE}).status_code == 200
    assert service.client.post("/api/v1/voice", data={"name": "after-outage"}, **upload).status_code == 201
    report = check_storage(service.storage, min_age_seconds=0)
    assert report.clean, report.model_dump_json(indent=2)


def test_database_outage_answers_503_and_recovers_without_restart(ops_stack: RunningService, ops_postgres: PostgresServer, fault_voice: str) -> None:
    """PostgreSQL stopped (its sessions cut) and started again: every route that needs the
    metadata answers 503 database_unavailable in the JSON error shape, a generation that only
    needs the model still works, and all of it recovers on the next request."""
    service = ops_stack
    upload = {"files": {"file": ("alex.wav", read_testdata("voice_alex.wav"))}}
    assert service.client.get("/api/v1/voices").status_code == 200  # the pool holds open connections now
    before = service.stored_state()
    ops_postgres.pause()
    try:
        assert_clean_5xx(service.client.get("/api/v1/voices"), 503, "database_unavailable")
        assert_clean_5xx(service.client.get(f"/api/v1/voice/{FAULT_VOICE}"), 503, "database_unavailable")
        assert_clean_5xx(service.client.get("/api/v1/outputs"), 503, "database_unavailable")
        assert_clean_5xx(service.client.post("/api/v1/voice", data={"name": "during-db-outage"}, **upload), 503, "database_unavailable")
        openai = service.client.post("/v1/audio/speech", json={"model": "tts-1-hd", "input": "Hello.", "voice": FAULT_VOICE})
        assert openai.status_code == 503 and openai.json()["error"]["code"] == "database_unavailable"
        health = service.client.get("/api/v1/health")
        assert health.status_code == 503 and health.json()["database"]["ready"] is False and "127.0.0.1" not in health.text
        assert service.stored_state() == before  # nothing half-written: the refused upload left no audio
    finally:
        ops_postgres.resume()
    assert service.client.get(f"/api/v1/voice/{FAULT_VOICE}").status_code == 200  # the next request reconnects
    assert service.client.post("/api/v1/voice", data={"name": "after-db-outage"}, **upload).status_code == 201
    assert service.client.get("/api/v1/health").json()["database"]["ready"] is True


def test_slow_storage_is_slow_not_broken(ops_stack: RunningService, s3_proxy: TCPProxy) -> None:
    s3_proxy.delay = 0.2
    try:
        audio = read_testdata("voice_bella.wav")
        created = ops_stack.client.post("/api/v1/voice", files={"file": ("bella.wav", audio)}, data={"name": "slow-store"})
        assert created.status_code == 201, created.text
        assert ops_stack.client.get("/api/v1/voice/slow-store/audio").content == audio
    finally:
        s3_proxy.delay = 0.0


def test_s3_downloads_redirect_to_a_presigned_url(ops_stack: RunningService, s3_proxy: TCPProxy) -> None:
    """`outputs.download_mode: redirect`: a GET is sent to S3 with a short-lived URL that
    needs no API key and answers ranges; HEAD and ranges outside the file stay with the API."""
    created = ops_stack.client.post("/api/v1/voice", files={"file": ("bella.wav", read_testdata("voice_bella.wav"))}, data={"name": "redirect-voice"})
    assert created.status_code == 201, created.text
    spoken = ops_stack.client.post("/api/v1/tts", json={"text": "Short one.", "voice": "redirect-voice", "seed": 4})
    assert spoken.status_code == 200, spoken.text
    filename = spoken.json()["filename"]
    stored = ops_stack.storage.get(f"outputs/{filename}")
    path = f"/api/v1/outputs/{filename}"
    redirect = ops_stack.client.get(path)
    assert redirect.status_code == 307 and redirect.headers["location"].startswith(s3_proxy.endpoint)
    with httpx.Client(timeout=60) as anyone:  # no API key: the signed URL is the permission
        fetched = anyone.get(redirect.headers["location"])
        assert fetched.status_code == 200 and fetched.content == stored
        assert fetched.headers["content-type"] == "audio/wav" and f'filename="{filename}"' in fetched.headers["content-disposition"]
    part = ops_stack.client.get(path, headers={"Range": "bytes=10-19"}, follow_redirects=True)
    assert part.status_code == 206 and part.content == stored[10:20]
    head = ops_stack.client.head(path)
    assert head.status_code == 200 and int(head.headers["content-length"]) == len(stored) and not head.content
    beyond = ops_stack.client.get(path, headers={"Range": f"bytes={len(stored) + 10}-"})
    assert beyond.status_code == 416 and beyond.json()["error"]["field"] == "Range"


def runner_metric(runner: httpx.Client, name: str) -> float:
    """One unlabelled sample of a runner pod's own /metrics (0 before it was first recorded)."""
    return metric_samples(runner).get(name, {}).get((), 0.0)


def test_a_runner_caller_that_hangs_up_takes_its_job_out_of_the_loop(ops_stack: RunningService) -> None:
    """What happens when a listener leaves a stream: the API cancels its runner call, which
    closes the connection. The runner notices (uvicorn never cancels a handler itself), takes
    the job out of its T3 loop at the next step instead of decoding the rest of it, and goes
    on serving."""
    pod = ops_stack.runners["chatterbox-tts-runner"]
    reference = unstored_reference(decode(read_testdata("voice_alex.wav"), 24_000).samples[:48_000])

    def body(text: str) -> bytes:
        return json.dumps({"jobs": [TTSJob(text=text, voice=reference, seed=1).model_dump(mode="json")]}).encode()

    long = body(LONG_TEXT[:900])  # longer than tts.max_new_tokens lets random weights speak
    with httpx.Client(base_url=pod.url, timeout=300) as runner:
        steps = runner_metric(runner, "chatterbox_t3_decode_batch_chunks_count")
        cancelled = runner_metric(runner, "chatterbox_t3_loop_cancellations_total")
        with socket.create_connection(("127.0.0.1", pod.port)) as connection:
            connection.sendall(b"POST /decode HTTP/1.1\r\nHost: runner\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(long), long))
            wait_until(lambda: runner_metric(runner, "chatterbox_t3_decode_batch_chunks_count") > steps, 120, "the long job decoding")
            assert ops_stack.health()["tts"]["decoding_jobs"] == 1  # health shows the loop
        wait_until(lambda: runner_metric(runner, "chatterbox_t3_loop_cancellations_total") > cancelled, 60, "the long job taken out of the loop")
        assert ops_stack.health()["tts"]["decoding_jobs"] == ops_stack.health()["tts"]["queued_jobs"] == 0
        after = runner.post("/decode", content=body("Still here."), headers={"Content-Type": "application/json"})
        assert after.status_code == 200 and after.json()[0]["speech_tokens"], after.text


def model_calls(pod: RunnerPod) -> float:
    """The model calls a runner pod has answered (BentoML's request counter, its model endpoints)."""
    with httpx.Client(base_url=pod.url, timeout=60) as runner:
        answered = metric_samples(runner).get("bentoml_service_request_total", {})
    return sum(value for labels, value in answered.items() if dict(labels).get("endpoint") in ("/decode", "/render", "/stream"))


def test_a_runner_pod_added_under_load_gets_its_share_of_calls(ops_stack: RunningService, fault_voice: str) -> None:
    """A scale-up: the API's connections to the runner's Service retire after
    `runner.connection_max_age_seconds` (between calls), so the balancer sends the new ones to
    the pod that came while traffic flowed, which would otherwise get nothing."""
    service, name = ops_stack, "chatterbox-tts-runner"
    first, balancer = service.runners[name], service.runner_services[name]
    stop_load = threading.Event()
    failures: list[str] = []

    def speak() -> None:
        with service.new_client() as client:
            while not stop_load.is_set():
                answer = client.post("/api/v1/tts", json={"text": "Short and quick.", "voice": FAULT_VOICE, "seed": 3})
                if answer.status_code != 200:
                    failures.append(answer.text[:300])

    second = first.replica(1).start()  # its process starts before the load (quicker on two cores); it joins the Service under load
    load = [threading.Thread(target=speak) for _ in range(3)]
    try:
        second.wait_ready()
        for thread in load:
            thread.start()
        wait_until(lambda: model_calls(first) > 0, 120, "traffic on the first pod")
        balancer.add_target("127.0.0.1", second.port)
        before = {pod.port: model_calls(pod) for pod in (first, second)}

        def share() -> float | None:
            gained = {pod.port: model_calls(pod) - before[pod.port] for pod in (first, second)}
            total = sum(gained.values())
            return gained[second.port] / total if total >= 20 and gained[second.port] / total >= SCALE_UP_SHARE else None

        wait_until(share, 60, f"the new pod answering {SCALE_UP_SHARE:.0%} of the calls")
    finally:
        stop_load.set()
        for thread in load:
            if thread.is_alive():
                thread.join(120)
        balancer.remove_target("127.0.0.1", second.port)
        second.kill()
    assert not failures, failures[:3]  # retiring connections never cut a call


def test_a_killed_runner_pod_fails_its_requests_cleanly_and_its_replacement_is_used(ops_stack: RunningService, fault_voice: str) -> None:
    service = ops_stack
    pod = service.runners["chatterbox-tts-runner"]
    answers: dict[str, httpx.Response] = {}
    speaking = speak_in_background(service, LONG_TEXT[:1200], answers, "killed")  # long enough to be cut
    wait_until(lambda: service.health()["generations"]["in_flight"] >= 1, 60, "the request in flight")
    pod.kill()
    speaking.join(timeout=300)
    assert_clean_5xx(answers["killed"], 503, "model_unavailable")  # tried once more, and nobody answers there now
    down = service.client.get("/api/v1/health")
    assert down.status_code == 503 and not down.json()["tts"]["ready"]  # a readiness probe takes the API out of rotation
    assert service.client.get("/api/v1/voices").status_code == 200  # what needs no model goes on

    pod.start()  # its replacement, behind the same Service address
    wait_until(lambda: service.client.get("/api/v1/health").status_code == 200, 180, "the API sees the new runner")
    assert service.client.post("/api/v1/tts", json={"text": "Alive again.", "voice": FAULT_VOICE}).status_code == 200


def test_sigterm_drains_in_flight_work_then_exits_with_state_flushed(ops_stack: RunningService) -> None:
    """Defect: SIGTERM during a generation left the runner at full CPU 90 s later, so the
    counters written on shutdown were lost to Kubernetes' SIGKILL at 30 s."""
    service = ops_stack
    created = service.client.post("/api/v1/voice", files={"file": ("alex.wav", read_testdata("voice_alex.wav"))}, data={"name": "drained"})
    assert created.status_code == 201, created.text
    warm = service.client.post("/api/v1/tts", json={"text": "Warm up.", "voice": "drained", "seed": 1})
    assert warm.status_code == 200, warm.text
    answers: dict[str, httpx.Response] = {}
    # the long one keeps the TTS runner busy past the drain; the short one (VC: the other
    # runner) finishes within it; on a fast machine it may finish before SIGTERM: then it passes trivially
    long_one = in_background(service, answers, "long", "POST", "/api/v1/tts", json={"text": LONG_TEXT, "voice": "drained", "seed": 1})
    short_one = in_background(
        service, answers, "short", "POST", "/api/v1/vc",
        files={"input_audio": ("src.wav", read_testdata("source_speech_16k.wav"))}, data={"target_voice": "drained"},
    )
    wait_until(lambda: service.health()["generations"]["in_flight"] >= (1 if "short" in answers else 2), 120, "both requests in flight")

    pods = service.processes
    signalled = time.monotonic()
    for process in pods:  # every pod at once, each to its main process only, as Kubernetes does
        process.send_signal(signal.SIGTERM)
    short_one.join(timeout=120)
    long_one.join(timeout=120)
    exits = []
    for process in pods:
        process.wait(timeout=KUBERNETES_GRACE_SECONDS + 30)
        exits.append(time.monotonic() - signalled)

    assert answers["short"].status_code == 200, answers["short"].text
    cut = answers["long"]
    assert cut.status_code == 503, cut.text[:300]
    assert cut.json()["error"]["type"] == "shutting_down" and cut.headers["retry-after"]
    assert max(exits) < KUBERNETES_GRACE_SECONDS, f"exits took {exits} s after SIGTERM (the API's first)"

    record = json.loads(service.storage.get(record_key("drained")))
    assert record["usage_count"] == 2  # warm-up and VC, written by the shutdown flush (the cut request counts no use)
    report = check_storage(service.storage, min_age_seconds=0)
    assert report.clean, report.model_dump_json(indent=2)
    assert not [path for path in service.tmpdir.rglob("*") if path.is_file() and path.name.startswith(("decode-", "concat-"))]
