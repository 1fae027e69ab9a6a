"""Production hardening through HTTP: bodies bounded while they arrive, zip bombs, racing
voice writes, hostile audio files, request ids and JSON errors. Graceful shutdown has its
own stack: `tests/test_shutdown.py`."""

from __future__ import annotations

import io
import select
import socket
import struct
import subprocess
import threading
import time
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.errors import install_error_handlers
from api.request_ids import RequestIds
from concat.job_queue import JobQueue, JobQueueFullError
from concat.job_records import JobRecords
from config import ConcatSettings
from db import Database
from harness.processes import wait_until
from harness.stacks import MAX_UPLOAD_BYTES, RunningService
from harness.testdata import TESTDATA, read_testdata
from maintenance.storage_check import check_storage
from tests.conftest import assert_error

JSON_LIMIT = 1 << 20  # limits.max_json_bytes, the default
MULTIPART_LIMIT = 2 * MAX_UPLOAD_BYTES + (1 << 20)  # a single-upload route's multipart body
OFFERED_BYTES = 96 << 20  # what the client tries to send: far past every limit
SOCKET_SLACK = 24 << 20  # what loopback buffers may take in before the server answers
BLOCK = 64 << 10


@contextmanager
def post_head(service: RunningService, path: str, content_type: str, framing: str) -> Iterator[socket.socket]:
    """A connection on which the head of a POST (with the stack's key) is sent; the body is the caller's."""
    host, port = service.base_url.removeprefix("http://").split(":")
    head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n{framing}\r\n" + "".join(f"{name}: {value}\r\n" for name, value in service.headers.items())
    with socket.create_connection((host, int(port)), timeout=60) as connection:
        connection.sendall((head + "\r\n").encode())
        yield connection


def send_until_answered(service: RunningService, path: str, content_type: str, blocks: Iterator[bytes]) -> tuple[int, bytes]:
    """A chunked POST sent block by block until the server answers (or the blocks end):
    the bytes it took in, and its raw answer."""
    sent = 0
    with post_head(service, path, content_type, "Transfer-Encoding: chunked") as connection:
        connection.setblocking(False)
        pending = b""
        while True:
            if not pending:
                block = next(blocks, None)
                if block is None:
                    connection.setblocking(True)
                    connection.sendall(b"0\r\n\r\n")
                    break
                pending = f"{len(block):x}\r\n".encode() + block + b"\r\n"
            readable, writable, _ = select.select([connection], [connection], [], 60)
            if readable:
                break  # the server answered before taking everything
            assert writable, "the server neither read the body nor answered for 60 s"
            try:
                written = connection.send(pending)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += written
            pending = pending[written:]
        connection.setblocking(True)
        return sent, read_until_closed(connection)


def read_until_closed(connection: socket.socket) -> bytes:
    """The answer to a refused body: the server closes the connection after it."""
    connection.settimeout(60)
    answer = b""
    try:
        while chunk := connection.recv(1 << 16):
            answer += chunk
    except ConnectionResetError:  # the close raced the rest of our body: what arrived is the answer
        pass
    return answer


def status_and_body(answer: bytes) -> tuple[int, str]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body.decode(errors="replace")


def zeros(total: int) -> Iterator[bytes]:
    block = b" " * BLOCK
    for _ in range(total // BLOCK):
        yield block


def test_chunked_json_body_is_refused_once_past_the_limit(service: RunningService) -> None:
    """Defect: a 1.5 GB chunked JSON body to /concat was read whole into memory first."""
    sent, answer = send_until_answered(service, "/api/v1/concat", "application/json", zeros(OFFERED_BYTES))
    status, body = status_and_body(answer)
    assert status == 413 and "payload_too_large" in body and str(JSON_LIMIT) in body, answer[:500]
    assert sent < JSON_LIMIT + SOCKET_SLACK, f"the server took in {sent} bytes before refusing"


def test_chunked_upload_is_refused_while_it_arrives(service: RunningService, unchanged: None) -> None:
    """Defect: a 3 GB chunked multipart upload got its 413 only after all of it was spooled."""
    boundary = "hardening-boundary"

    def upload() -> Iterator[bytes]:
        yield (f'--{boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\nhuge-upload\r\n'
               f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="huge.wav"\r\nContent-Type: audio/wav\r\n\r\n').encode()
        yield from zeros(OFFERED_BYTES)

    sent, answer = send_until_answered(service, "/api/v1/voice", f"multipart/form-data; boundary={boundary}", upload())
    status, body = status_and_body(answer)
    assert status == 413 and "payload_too_large" in body, answer[:500]
    assert sent < MULTIPART_LIMIT + SOCKET_SLACK, f"the server took in {sent} bytes before refusing"


def test_declared_oversize_body_is_refused_before_reading(service: RunningService) -> None:
    """A Content-Length over the limit is answered before a byte of the body is sent."""
    with post_head(service, "/api/v1/tts", "application/json", f"Content-Length: {JSON_LIMIT + 1}") as connection:
        answer = read_until_closed(connection)
    status, body = status_and_body(answer)
    assert status == 413 and "payload_too_large" in body, answer[:500]


def test_zip_bomb_is_refused_before_extracting(service: RunningService, unchanged: None) -> None:
    """Defect: 20 members of 40 MiB (each under the per-file limit) were all held at once."""
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        for index in range(8):
            archive.writestr(f"voice-{index}.wav", bytes(40 << 20))
    assert len(bomb.getvalue()) < 1 << 20
    response = service.client.post("/api/v1/voices/bulk", files={"archive": ("bomb.zip", bomb.getvalue())})
    assert_error(response, 400, "archive")
    assert "zip bomb" in response.json()["error"]["message"]


def test_bulk_members_are_read_one_at_a_time_and_fail_alone(service: RunningService) -> None:
    """An incompressible member over the per-file limit fails alone; the good one is created."""
    archive_bytes = io.BytesIO()
    with zipfile.ZipFile(archive_bytes, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("too-big.wav", np.random.default_rng(0).bytes(MAX_UPLOAD_BYTES + 1))
        archive.writestr("one-at-a-time.wav", read_testdata("voice_bella.wav"))
    response = service.client.post("/api/v1/voices/bulk", files={"archive": ("mixed.zip", archive_bytes.getvalue())}, data={"overwrite": "true"})
    assert response.status_code == 200, response.text
    results = {result["filename"]: result for result in response.json()["results"]}
    assert results["too-big.wav"]["status"] == "failed" and results["too-big.wav"]["error"]["type"] == "payload_too_large"
    assert results["one-at-a-time.wav"]["status"] in ("created", "replaced")


def assert_storage_consistent(service: RunningService) -> None:
    report = check_storage(service.storage, min_age_seconds=0)
    assert report.clean, report.model_dump_json(indent=2)


def test_concurrent_creates_of_one_voice_lose_nothing(service: RunningService) -> None:
    """Defect: six concurrent creates gave one 201 and five 409, and the losers deleted the
    winner's audio (then a plain-text 500 on download)."""
    name = f"race-create-{service.backend}"
    audio = read_testdata("voice_alex.wav")
    responses = service.race([("POST", "/api/v1/voice", {"files": {"file": ("alex.wav", audio)}, "data": {"name": name}})] * 6)
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201, 409, 409, 409, 409, 409], [r.text for r in responses]
    for response in responses:
        assert response.headers["content-type"] == "application/json" and response.json()
    for variant in ("original", "reference"):
        assert service.client.get(f"/api/v1/voice/{name}/audio", params={"variant": variant}).status_code == 200
    assert service.client.get(f"/api/v1/voice/{name}/audio").content == audio
    assert_storage_consistent(service)
    assert service.client.delete(f"/api/v1/voice/{name}", params={"confirm": "true"}).status_code == 200


def test_racing_overwrites_renames_and_deletes_keep_every_record_whole(service: RunningService) -> None:
    name = f"race-mixed-{service.backend}"
    files = [read_testdata(f) for f in ("voice_alex.wav", "voice_bella.wav", "voice_alex.mp3")]
    assert service.client.post("/api/v1/voice", files={"file": ("a.wav", files[0])}, data={"name": name}).status_code == 201
    requests = [("POST", "/api/v1/voice", {"files": {"file": (f"f{i}.wav", data)}, "data": {"name": name, "overwrite": "true"}}) for i, data in enumerate(files)]
    requests += [("PUT", f"/api/v1/voice/{name}/metadata", {"json": {"name": f"{name}-moved-{i}"}}) for i in range(2)]
    requests += [("PUT", f"/api/v1/voice/{name}/metadata", {"json": {"description": f"edit {i}"}}) for i in range(2)]
    requests += [("DELETE", f"/api/v1/voice/{name}", {"params": {"confirm": "true"}})]
    responses = service.race(requests)
    for response in responses:
        assert response.status_code in (200, 201, 404, 409), response.text
        assert response.json()
    names = [name, f"{name}-moved-0", f"{name}-moved-1"]
    for candidate in names:
        if service.client.get(f"/api/v1/voice/{candidate}").status_code == 200:
            assert service.client.get(f"/api/v1/voice/{candidate}/audio").status_code == 200
            service.client.delete(f"/api/v1/voice/{candidate}", params={"confirm": "true"})
    assert_storage_consistent(service)


def test_playlist_cannot_read_the_servers_files(service: RunningService, tmp_path: Path, unchanged: None) -> None:
    """ffmpeg's format detection would open an HLS playlist's entries: a local file of the
    server became a voice anyone could download."""
    secret = tmp_path / "server-secret.mp3"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(TESTDATA / "voice_alex.wav"), str(secret)], check=True)
    playlist = f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:5.0,\nfile://{secret}\n#EXT-X-ENDLIST\n".encode()
    response = service.client.post("/api/v1/voice", files={"file": ("innocent.m4a", playlist)}, data={"name": "playlist-voice"})
    assert_error(response, 400, "file")


def test_truncated_m4a_is_refused(service: RunningService, tmp_path: Path, unchanged: None) -> None:
    m4a = tmp_path / "voice.m4a"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(TESTDATA / "voice_alex.wav"), str(m4a)], check=True)
    data = m4a.read_bytes()
    response = service.client.post("/api/v1/voice", files={"file": ("cut.m4a", data[: len(data) // 3])}, data={"name": "cut-m4a"})
    assert_error(response, 400, "file")


def flac_claiming(seconds: float) -> bytes:
    """One second of FLAC whose header claims `seconds` of audio."""
    rate = 16_000
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros(rate, dtype=np.float32), rate, format="FLAC")
    data = bytearray(buffer.getvalue())
    # STREAMINFO starts at byte 8: total samples are the low 36 bits of its bytes 13..17
    (packed,) = struct.unpack(">Q", bytes(data[8 + 10 : 8 + 18]))
    packed = (packed & ~((1 << 36) - 1)) | int(seconds * rate)
    data[8 + 10 : 8 + 18] = struct.pack(">Q", packed)
    return bytes(data)


def test_file_claiming_hours_is_refused_before_decoding(service: RunningService, unchanged: None) -> None:
    started = time.monotonic()
    response = service.client.post("/api/v1/voice", files={"file": ("long.flac", flac_claiming(6 * 3600))}, data={"name": "hours-long"})
    assert_error(response, 400, "file")
    assert "at most" in response.json()["error"]["message"]
    assert time.monotonic() - started < 60


def test_request_id_is_echoed_in_header_and_error(service: RunningService) -> None:
    response = service.client.get("/api/v1/voice/no-such-voice", headers={"X-Request-ID": "support-case-0042"})
    assert response.status_code == 404
    assert response.headers["x-request-id"] == "support-case-0042"
    assert response.json()["error"]["request_id"] == "support-case-0042"
    generated = service.client.get("/api/v1/voice/no-such-voice", headers={"X-Request-ID": "bad id; evil=1"})
    assert len(generated.headers["x-request-id"]) == 32
    assert service.client.get("/api/v1/health").headers["x-request-id"]


def test_a_newline_in_the_path_gets_the_json_shape(service: RunningService) -> None:
    """Found by the fuzzer: BentoML's mounts stop at a newline, so such a path got BentoML's plain-text 404."""
    for path, openai in (("/api/v1/voice/a%0Ab", False), ("/v1/models/a%0Ab", True)):
        response = service.client.get(path)
        assert response.status_code == 400 and response.headers["content-type"] == "application/json", response.text
        error = response.json()["error"]
        assert (error["param"] if openai else error["field"]) == "path" and response.headers["x-request-id"]


def test_concat_voice_with_an_invalid_name_is_a_422(service: RunningService, unchanged: None) -> None:
    response = service.client.post("/api/v1/concat", json={"inputs": [{"voice": "a b"}, {"silence_ms": 100}]})
    assert response.status_code == 422, response.text
    assert "voice" in response.json()["error"]["field"]


def test_head_of_an_output_sends_headers_only(service: RunningService, voices: dict[str, str]) -> None:
    made = service.client.post("/api/v1/tts", json={"text": "Head check.", "voice": voices["alex"], "seed": 3})
    assert made.status_code == 200, made.text
    path = "/api/v1/outputs/" + made.json()["filename"]
    whole = service.client.get(path)
    head = service.client.head(path)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(whole.content)) and head.headers["accept-ranges"] == "bytes"
    ranged = service.client.head(path, headers={"Range": "bytes=0-99"})
    assert ranged.status_code == 206 and ranged.headers["content-range"] == f"bytes 0-99/{len(whole.content)}"
    assert ranged.headers["content-length"] == "100"


def test_unmapped_exception_answers_json_with_its_request_id(caplog: pytest.LogCaptureFixture) -> None:
    """No route is known to raise an unmapped exception any more, so a bare app with our
    handlers stands in: a bug must still answer the JSON shape and log its request id."""
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(RequestIds)

    @app.get("/api/v1/broken")
    async def broken() -> None:
        raise KeyError("voices/secret/internal-key.wav")

    with TestClient(app, raise_server_exceptions=False) as client, caplog.at_level("ERROR"):
        response = client.get("/api/v1/broken", headers={"X-Request-ID": "bug-report-123"})
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["type"] == "internal_error" and error["request_id"] == "bug-report-123"
    assert "internal-key" not in response.text
    assert any("bug-report-123" in record.getMessage() for record in caplog.records)


def test_checker_reports_and_repairs_a_voice_whose_audio_is_gone(service: RunningService) -> None:
    name = f"lost-audio-{service.backend}"
    created = service.client.post("/api/v1/voice", files={"file": ("alex.wav", read_testdata("voice_alex.wav"))}, data={"name": name})
    assert created.status_code == 201, created.text
    service.storage.delete(created.json()["voice"]["reference_key"])  # what a hand-made cleanup might do
    report = check_storage(service.storage, min_age_seconds=0)
    assert [(f.kind, f.key) for f in report.findings] == [("record_missing_audio", f"voice-records/{name}.json")]
    database = service.database()
    try:
        check_storage(service.storage, database=database, repair=True, min_age_seconds=0)
    finally:
        database.close()
    assert check_storage(service.storage, min_age_seconds=0).clean
    assert service.client.get(f"/api/v1/voice/{name}").status_code == 404  # its row went with its record


def test_a_job_is_claimed_once_and_a_stopped_replicas_job_is_run_by_another(database: Database) -> None:
    """Replicas racing for queued jobs: each is claimed by exactly one. A replica that claimed
    a job and stopped (it never beats again) loses it to another after the stale window,
    which runs it from the start and says so (`attempts`); the dead run's end, should it
    ever come, is not recorded."""
    settings = ConcatSettings(
        max_inputs=10, sync_max_seconds=0, max_output_seconds=100, max_upload_seconds=100, max_concurrent_jobs=1, max_queued_jobs=2,
        max_concurrent_sync=1, job_heartbeat_seconds=0.2, job_ttl_hours=1,
    )
    queue = JobQueue(database, settings)
    first, second = (queue.submit(uuid.uuid4().hex, 1, 1.0, "{}") for _ in range(2))
    with pytest.raises(JobQueueFullError):  # two queued or running, on every replica together
        queue.submit(uuid.uuid4().hex, 1, 1.0, "{}")
    start = threading.Barrier(4)
    won: list[str] = []

    def claim(n: int) -> None:
        start.wait()
        if (claimed := JobRecords(database).claim(f"replica-{n}")) is not None:
            won.append(claimed[0].id)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(won) == sorted([first.id, second.id])  # each job claimed by exactly one replica
    assert queue.get(first.id).status == "running" and queue.get(first.id).attempts == 1

    class Joiner:
        discarded: list[str] = []

        def run(self, job, payload, progress, cancelled) -> str:
            progress(1, 1.0)
            return f"joined-{job.attempts}.wav"

        def discard(self, job_id: str) -> None:
            self.discarded.append(job_id)

    queue.start(Joiner())  # the replicas that claimed them never beat again: they stopped
    done = wait_until(lambda: (job := queue.get(first.id)).status == "succeeded" and job, 60, "the stopped replica's job run again")
    assert (done.attempts, done.result_filename, done.progress.percent) == (2, "joined-2.wav", 100.0) and first.id in Joiner.discarded
    assert not JobRecords(database).finish(first.id, "replica-0", "succeeded", "late.wav", None, None)  # a dead run's end is not recorded
    assert queue.get(first.id).result_filename == "joined-2.wav"
    queue.close()
