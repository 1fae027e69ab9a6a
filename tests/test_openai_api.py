"""The OpenAI-compatible routes, driven by the official openai SDKs (Python and Node.js)
against the local stack, which has API keys, voice aliases and a predefined-voices folder
configured (`harness/stacks.py`). The voices here are 1.5 s clips: the S3Gen prompt is as long
as the reference, and short prompts keep each generation quick on a CPU."""

from __future__ import annotations

import base64
import json
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest

from api.openai_protocol import OPENAI_VOICE_NAMES
from audio.decoding import decode
from audio.stream_encoding import with_flac_length
from harness.processes import ROOT, wait_until
from harness.stacks import API_KEYS as KEYS
from harness.stacks import FIRST_CHUNK_CHARS, LIBRARY_VOICE, MAX_CHUNK_CHARS, MAX_PENDING, RunningService, write_clip
from text.chunks import split_into_chunks

CONTENT_TYPES = {"mp3": "audio/mpeg", "opus": "audio/opus", "aac": "audio/aac", "flac": "audio/flac", "wav": "audio/wav", "pcm": "audio/pcm"}
LONG_TEXT = "One two. Three four five six seven. Eight nine ten eleven twelve. Thirteen fourteen fifteen. Sixteen seventeen eighteen nineteen."
# Thirty sentence groups: far more than are generated before a listener who leaves is noticed.
ENDLESS_TEXT = " ".join(f"This is sentence number {n} of a text that takes a good while to say." for n in range(1, 31))


@dataclass
class OpenAIService:
    running: RunningService

    @property
    def base_url(self) -> str:
        return f"{self.running.base_url}/v1"

    def sdk(self, key: str = KEYS[1]) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.base_url, api_key=key, max_retries=0, timeout=600)

    def jobs_done(self) -> int:
        return self.running.health()["tts"]["jobs_done"]

    def in_flight(self) -> int:
        return self.running.health()["generations"]["in_flight"]

    def output_names(self) -> set[str]:
        return {key.rsplit("/", 1)[-1] for key in self.running.storage.list_keys("outputs/")}


@pytest.fixture(scope="module")
def service(local_stack: RunningService, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenAIService]:
    clip = tmp_path_factory.mktemp("openai") / "short-alex.wav"
    write_clip("voice_alex.wav", clip)
    response = local_stack.client.post("/api/v1/voice", files={"file": (clip.name, clip.read_bytes())}, data={"name": LIBRARY_VOICE})
    assert response.status_code == 201, response.text
    yield OpenAIService(local_stack)


def test_models_voices_and_api_keys(service: OpenAIService) -> None:
    client = service.sdk()
    ids = [model.id for model in client.models.list()]
    assert {"tts-1", "tts-1-hd", "gpt-4o-mini-tts", "chatterbox"} <= set(ids)
    assert client.models.retrieve("tts-1-hd").id == "tts-1-hd"
    with pytest.raises(openai.NotFoundError) as missing:
        client.models.retrieve("whisper-1")
    assert missing.value.code == "model_not_found"

    voices = service.running.client.get("/v1/audio/voices").json()
    by_id = {entry["id"]: entry for entry in voices["data"]}
    assert by_id[LIBRARY_VOICE]["source"] == "library"
    assert by_id["alloy"] == {"id": "alloy", "name": "alloy", "source": "alias", "resolves_to": LIBRARY_VOICE}
    assert "narrator-x" not in by_id  # its target is not in the library: it does not resolve
    default = {"source": "default", "resolves_to": "predefined/bella-file.wav"}
    assert all(by_id[name] == {"id": name, "name": name} | default for name in OPENAI_VOICE_NAMES if name != "alloy")  # alloy is an alias
    assert {by_id["bella-file"]["source"], by_id["narrators/carol"]["source"]} == {"predefined"}
    assert voices["fallback"] is None  # random weights have no built-in voice

    with pytest.raises(openai.AuthenticationError) as refused:
        service.sdk("wrong-key").models.list()
    assert refused.value.status_code == 401 and refused.value.code == "invalid_api_key"
    bare = httpx.Client(base_url=service.running.base_url)
    answer = bare.get("/v1/models")
    assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer"
    assert set(answer.json()["error"]) == {"message", "type", "param", "code"}
    own = bare.get("/api/v1/voices")  # our API is protected too, in its own error shape
    assert own.status_code == 401 and own.json()["error"]["type"] == "invalid_api_key"
    assert bare.get("/api/v1/voices", headers={"Authorization": "Bearer key-on"}).status_code == 401
    assert bare.get("/api/v1/voices", headers={"Authorization": f"Basic {KEYS[0]}"}).status_code == 401
    assert bare.get("/api/v1/health").status_code == 200  # load balancers probe without a key
    assert bare.get("/v1/nothing-here").json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("arguments", "param", "code"),
    [
        ({"input": "x" * 4097}, "input", "string_above_max_length"),
        ({"input": "   "}, "input", "invalid_value"),
        ({"voice": "nobody-by-that-name"}, "voice", "voice_not_found"),
        ({"voice": "narrator-x"}, "voice", "voice_not_found"),  # an alias to a missing voice falls through to "not found"
        ({"response_format": "ogg"}, "response_format", "invalid_value"),
        ({"speed": 4.5}, "speed", "invalid_value"),
        ({"stream_format": "json"}, "stream_format", "invalid_value"),
        ({"extra_body": {"exageration": 0.7}}, "exageration", "unknown_parameter"),
    ],
)
def test_bad_requests_raise_bad_request_error(service: OpenAIService, arguments: dict, param: str, code: str) -> None:
    before = service.output_names()
    request = {"model": "tts-1-hd", "voice": "alloy", "input": "Hello."} | arguments
    with pytest.raises(openai.BadRequestError) as refused:
        service.sdk().audio.speech.create(**request)
    assert refused.value.status_code == 400
    assert refused.value.param == param and refused.value.code == code and refused.value.type == "invalid_request_error"
    assert param in refused.value.message
    assert service.output_names() == before


def test_unknown_model_is_not_found(service: OpenAIService) -> None:
    with pytest.raises(openai.NotFoundError) as refused:
        service.sdk().audio.speech.create(model="tts-2", voice="alloy", input="Hello.")
    assert refused.value.param == "model" and "tts-2" in refused.value.message


# Each format is asked for with another way of naming a voice, so every resolution step runs.
FORMAT_CASES = [
    ("mp3", "alloy", LIBRARY_VOICE, "alias"),
    ("opus", LIBRARY_VOICE, LIBRARY_VOICE, "library"),
    ("aac", "bella-file", "predefined/bella-file.wav", "extension"),
    ("flac", "bella-file.wav", "predefined/bella-file.wav", "predefined"),
    ("wav", "short-alex.wav", LIBRARY_VOICE, "extension"),
    ("pcm", {"id": "narrators/carol"}, "predefined/narrators/carol.flac", "extension"),
    ("wav", "shimmer", "predefined/bella-file.wav", "default"),  # an OpenAI name nothing else is called: openai.default_voice
]


@pytest.mark.parametrize(("response_format", "voice", "resolved", "source"), FORMAT_CASES)
def test_every_response_format_with_the_sdk(service: OpenAIService, response_format: str, voice: object, resolved: str, source: str) -> None:
    client = service.sdk()
    with client.audio.speech.with_streaming_response.create(
        model="tts-1-hd", voice=voice, input="Hello there.", response_format=response_format, extra_body={"seed": 7}
    ) as response:
        assert response.headers["content-type"] == CONTENT_TYPES[response_format]
        assert response.headers["x-voice-resolved"] == resolved and response.headers["x-voice-source"] == source
        filename = response.headers["x-output-filename"]
        data = b"".join(response.iter_bytes())
    audio = decode(data, raw_pcm_rate=24_000 if response_format == "pcm" else None)
    assert audio.sample_rate == 24_000 and audio.duration_seconds > 0.2
    if response_format == "pcm":
        assert len(data) % 2 == 0
    if response_format == "wav":
        assert data[4:8] == b"\xff\xff\xff\xff"  # streamed: length unknown, as OpenAI sends it
    stored = service.running.stored_output(filename)
    assert stored["parameters"]["openai"] == {"model": "tts-1-hd", "voice": voice["id"] if isinstance(voice, dict) else voice, "instructions": None, "stream_format": "audio"}
    assert stored["parameters"]["voice_source"] == source and stored["parameters"]["seed"] == 7
    assert abs(stored["duration_seconds"] - audio.duration_seconds) < 0.1  # aac/mp3 pad a frame


def test_a_predefined_voice_reaches_the_runner_once(service: OpenAIService, tmp_path) -> None:
    """A voice the runner cannot read from storage goes by hash first; the runner asks for
    it once, and afterwards has it cached: the audio crosses the wire one time."""
    folder = Path(service.running.env["CHATTERBOX_OPENAI__PREDEFINED_VOICES_DIR"])
    clip = folder / "once-only.wav"
    write_clip("voice_bella.wav", clip, seconds=1.7)  # a length no other test uses: a voice the runner never saw
    try:
        before = service.running.health()["tts"]
        for seed in (1, 2):
            speech = service.sdk().audio.speech.create(model="tts-1-hd", voice="once-only", input="Hello there.", response_format="wav", extra_body={"seed": seed})
            assert decode(speech.content).duration_seconds > 0.2
        after = service.running.health()["tts"]
    finally:
        clip.unlink()
    assert after["references_sent"] - before["references_sent"] == 1
    assert after["conditioning_cache_misses"] - before["conditioning_cache_misses"] == 2  # the miss that asked, and the one that got the audio
    assert after["references_from_storage"] == before["references_from_storage"]


def test_same_seed_same_speech_and_plain_create(service: OpenAIService) -> None:
    client = service.sdk()
    request = {"model": "tts-1-hd", "voice": "alloy", "input": "Same again.", "response_format": "pcm", "extra_body": {"seed": 11}}
    first = client.audio.speech.create(**request).content
    second = client.audio.speech.create(**request).content
    assert first == second


def test_speed_stretches_at_the_openai_range(service: OpenAIService) -> None:
    client = service.sdk()
    request = {"model": "tts-1-hd", "voice": "alloy", "input": "Faster please.", "response_format": "pcm", "extra_body": {"seed": 5}}
    normal = len(client.audio.speech.create(**request).content)
    fast = len(client.audio.speech.create(**request, speed=3.0).content)
    assert fast == pytest.approx(normal / 3.0, rel=0.1)


def read_stream(client: httpx.Client, path: str, body: dict) -> tuple[httpx.Response, list[bytes]]:
    with client.stream("POST", path, json=body) as response:
        return response, list(response.iter_raw())


def test_streamed_speech_is_the_whole_text(service: OpenAIService) -> None:
    """Every sentence group is generated once and sent, in windows (audio leaves before a
    group's sentence is decoded): the stream decodes to the stored output, as long."""
    groups = split_into_chunks(LONG_TEXT, MAX_CHUNK_CHARS, first_chars=FIRST_CHUNK_CHARS)
    assert len(groups) >= 3
    done_before = service.jobs_done()
    with service.running.client.stream("POST", "/v1/audio/speech", json={"model": "tts-1-hd", "voice": "alloy", "input": LONG_TEXT, "response_format": "wav", "seed": 3}) as response:
        assert response.status_code == 200 and response.headers["transfer-encoding"] == "chunked"
        data = b"".join(response.iter_raw())
    assert service.jobs_done() - done_before == len(groups)
    audio = decode(data)
    stored = service.running.stored_output(response.headers["x-output-filename"])
    assert stored["parameters"]["chunks"] == len(groups) and stored["parameters"]["streamed"] is True
    assert stored["parameters"]["windows"] > len(groups)  # every group longer than a second came in more than one window
    assert stored["duration_seconds"] == pytest.approx(audio.duration_seconds, abs=0.001)


def test_audio_arrives_while_generated_and_stops_when_the_listener_leaves(service: OpenAIService) -> None:
    """The first audio arrives while most groups are not yet generated; once the listener
    hangs up no further group is asked for. The count is taken when the abandoned request
    has let go of its slot and a request sent after it has finished: the runner works in
    arrival order, so nothing of the abandoned stream is left to come."""
    groups = split_into_chunks(ENDLESS_TEXT, MAX_CHUNK_CHARS, first_chars=FIRST_CHUNK_CHARS)
    done_before = service.jobs_done()
    with service.running.client.stream("POST", "/v1/audio/speech", json={"model": "tts-1-hd", "voice": "alloy", "input": ENDLESS_TEXT, "response_format": "mp3"}) as response:
        assert response.status_code == 200
        pieces = response.iter_raw()
        next(pieces)
        done_at_first_audio = service.jobs_done() - done_before
    # leaving the block closed the connection before the rest was read: the listener hung up
    wait_until(lambda: service.in_flight() == 0, 120, "the abandoned stream let go of its slot")
    assert len(service.sdk().audio.speech.create(model="tts-1-hd", voice="alloy", input="After it.", response_format="pcm").content) > 0
    generated = service.jobs_done() - done_before - 1
    assert done_at_first_audio <= generated < len(groups) // 3 and generated >= 1, (done_at_first_audio, generated, len(groups))


def test_sse_events_carry_the_audio_and_usage(service: OpenAIService) -> None:
    body = {"model": "gpt-4o-mini-tts", "voice": "alloy", "input": "One two. Three four five six seven.", "response_format": "pcm", "stream_format": "sse", "seed": 4}
    response = service.running.client.post("/v1/audio/speech", json=body)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    events = [json.loads(line.removeprefix("data: ")) for line in response.text.split("\n\n") if line.strip()]
    deltas, done = events[:-1], events[-1]
    assert deltas and {event["type"] for event in deltas} == {"speech.audio.delta"}
    pcm = b"".join(base64.b64decode(event["audio"]) for event in deltas)
    assert len(pcm) % 2 == 0 and len(pcm) > 24_000 * 2 * 0.2
    assert done["type"] == "speech.audio.done"
    usage = done["usage"]
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0 and usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


def test_api_v1_tts_streams_chunks_and_stores_the_whole(service: OpenAIService) -> None:
    client = service.running.client
    refused = client.post("/api/v1/tts", json={"text": "Hi.", "voice": LIBRARY_VOICE, "stream_chunks": True})
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "stream_chunks"
    text = "One two. Three four five six seven."
    body = {"text": text, "voice": LIBRARY_VOICE, "response_mode": "stream", "stream_chunks": True, "output_format": "flac", "sample_rate": 16000, "seed": 9}
    response, pieces = read_stream(client, "/api/v1/tts", body)
    assert response.status_code == 200 and response.headers["content-type"] == "audio/flac"
    assert response.headers["x-voice-resolved"] == LIBRARY_VOICE and response.headers["x-voice-source"] == "library"
    streamed = decode(b"".join(pieces))
    assert streamed.sample_rate == 16_000
    metadata = service.running.stored_output(response.headers["x-output-filename"])
    # the stored copy is the streamed bytes (encoded once), its FLAC header told the length
    assert service.running.storage.get(f"outputs/{response.headers['x-output-filename']}") == with_flac_length(b"".join(pieces), round(streamed.duration_seconds * 16_000))
    assert metadata["parameters"]["chunks"] == len(split_into_chunks(text, MAX_CHUNK_CHARS, first_chars=FIRST_CHUNK_CHARS)) == 2
    assert metadata["sample_rate"] == 16_000 and metadata["duration_seconds"] == pytest.approx(streamed.duration_seconds, abs=0.01)


def test_a_full_server_answers_429_until_listeners_leave(service: OpenAIService) -> None:
    """MAX_PENDING streams hold every generation slot (each listener waits after its first
    audio); one more request gets 429 with Retry-After. When the listeners hang up, their
    slots are freed and a new request is served."""
    first_audio = [threading.Event() for _ in range(MAX_PENDING)]
    leave = threading.Event()
    outcomes: list[int | BaseException] = []

    def listen(index: int) -> None:
        try:
            with service.running.new_client() as client, client.stream("POST", "/v1/audio/speech", json={"model": "tts-1-hd", "voice": "alloy", "input": ENDLESS_TEXT, "response_format": "mp3"}) as response:
                outcomes.append(response.status_code)
                pieces = response.iter_raw()  # held: dropping the iterator would close the connection
                next(pieces)
                first_audio[index].set()
                leave.wait(300)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            outcomes.append(exc)
            first_audio[index].set()

    listeners = [threading.Thread(target=listen, args=(index,)) for index in range(MAX_PENDING)]
    for listener in listeners:
        listener.start()
    try:
        for event in first_audio:
            assert event.wait(300), "a listener got no audio"
        assert outcomes == [200] * MAX_PENDING and service.in_flight() == MAX_PENDING
        with pytest.raises(openai.RateLimitError) as limited:
            service.sdk().audio.speech.create(model="tts-1-hd", voice="alloy", input="Me too.")
        assert int(limited.value.response.headers["retry-after"]) > 0 and limited.value.code == "rate_limit_exceeded"
    finally:
        leave.set()
        for listener in listeners:
            listener.join(300)
    wait_until(lambda: service.in_flight() == 0, 120, "the listeners' slots freed")
    assert len(service.sdk().audio.speech.create(model="tts-1-hd", voice="alloy", input="Free again.", response_format="pcm").content) > 0


def test_the_openai_npm_package(service: OpenAIService) -> None:
    script = ROOT / "tests" / "node" / "speech.mjs"
    done = subprocess.run(["node", str(script), service.base_url, KEYS[0], "alloy"], capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["whole"]["contentType"] == "audio/wav" and report["whole"]["voice"] == LIBRARY_VOICE
    assert decode(base64.b64decode(report["whole"]["audio"])).duration_seconds > 0.2
    assert report["streamed"]["contentType"] == "audio/pcm" and report["streamed"]["pieces"] >= 2
    pcm = base64.b64decode(report["streamed"]["audio"])
    assert len(pcm) % 2 == 0 and np.abs(np.frombuffer(pcm, "<i2")).max() > 0
    assert report["refused"] == {"name": "BadRequestError", "status": 400, "param": "input", "type": "invalid_request_error"}
