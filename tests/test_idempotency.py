"""Retries made safe: the same `Idempotency-Key` gets the first answer, not a duplicate."""

from __future__ import annotations

import uuid

from harness.stacks import RunningService
from harness.testdata import read_testdata
from maintenance.storage_check import check_storage
from tests.conftest import assert_error


def fresh_key() -> str:
    return uuid.uuid4().hex


def outputs_total(service: RunningService) -> int:
    return service.client.get("/api/v1/outputs", params={"page_size": 1}).json()["total"]


def test_retried_voice_upload_answers_the_first_result(service: RunningService) -> None:
    key, name = fresh_key(), f"idem-voice-{service.backend}"
    request = {"files": {"file": ("alex.wav", read_testdata("voice_alex.wav"))}, "data": {"name": name}, "headers": {"Idempotency-Key": key}}
    first = service.client.post("/api/v1/voice", **request)
    again = service.client.post("/api/v1/voice", **request)
    assert first.status_code == again.status_code == 201, again.text
    assert "idempotent-replayed" not in first.headers and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json() and again.headers["etag"] == first.headers["etag"]
    without_key = service.client.post("/api/v1/voice", files=request["files"], data=request["data"])
    assert without_key.status_code == 409  # the request itself is not idempotent: the key makes it so
    assert check_storage(service.storage, min_age_seconds=0).clean
    service.client.delete(f"/api/v1/voice/{name}", params={"confirm": "true"})


def test_retried_tts_makes_one_output(service: RunningService, voices: dict[str, str]) -> None:
    key = fresh_key()
    body = {"text": "Only once, please.", "voice": voices["bella"], "seed": 5}
    before = outputs_total(service)
    first = service.client.post("/api/v1/tts", json=body, headers={"Idempotency-Key": key})
    again = service.client.post("/api/v1/tts", json=body, headers={"Idempotency-Key": key})
    assert first.status_code == again.status_code == 200, again.text
    assert again.json()["filename"] == first.json()["filename"] and again.headers["idempotent-replayed"] == "true"
    assert outputs_total(service) == before + 1


def test_a_key_names_one_request(service: RunningService, voices: dict[str, str]) -> None:
    key = fresh_key()
    assert service.client.post("/api/v1/tts", json={"text": "First.", "voice": voices["alex"]}, headers={"Idempotency-Key": key}).status_code == 200
    other = service.client.post("/api/v1/tts", json={"text": "Something else entirely.", "voice": voices["alex"]}, headers={"Idempotency-Key": key})
    assert_error(other, 422, "Idempotency-Key")
    assert_error(service.client.post("/api/v1/tts", json={"text": "x"}, headers={"Idempotency-Key": "k" * 256}), 400, "Idempotency-Key")


def test_streamed_answers_are_not_kept_whole_audio_is(service: RunningService, voices: dict[str, str]) -> None:
    streamed = {"text": "Streamed twice, group by group.", "voice": voices["alex"], "response_mode": "stream", "stream_chunks": True}
    key = fresh_key()
    for _ in range(2):
        answer = service.client.post("/api/v1/tts", json=streamed, headers={"Idempotency-Key": key})
        assert answer.status_code == 200 and "idempotent-replayed" not in answer.headers and answer.content[:4] == b"RIFF"
    whole = {"text": "Sent whole.", "voice": voices["alex"], "response_mode": "stream"}
    key = fresh_key()
    first = service.client.post("/api/v1/tts", json=whole, headers={"Idempotency-Key": key})
    again = service.client.post("/api/v1/tts", json=whole, headers={"Idempotency-Key": key})
    assert again.headers["idempotent-replayed"] == "true" and again.content == first.content and first.content[:4] == b"RIFF"


def test_concurrent_retries_run_the_request_once(service: RunningService) -> None:
    key, name = fresh_key(), f"idem-race-{service.backend}"
    upload = {"files": {"file": ("b.wav", read_testdata("voice_bella.wav"))}, "data": {"name": name}, "headers": {"Idempotency-Key": key}}
    answers = service.race([("POST", "/api/v1/voice", upload)] * 4)
    statuses = sorted(answer.status_code for answer in answers)
    assert len(answers) == 4 and statuses.count(201) >= 1 and set(statuses) <= {201, 409}, [a.text for a in answers]
    ran = [a for a in answers if a.status_code == 201 and "idempotent-replayed" not in a.headers]
    assert len(ran) == 1  # the others were told to wait (409) or got its answer
    for answer in answers:
        if answer.status_code == 409:
            assert answer.json()["error"]["field"] == "Idempotency-Key" and answer.headers["retry-after"]
    assert check_storage(service.storage, min_age_seconds=0).clean
    service.client.delete(f"/api/v1/voice/{name}", params={"confirm": "true"})
