"""`/api/v1/tts/stream` against the served local stack with a real WebSocket client (the
`websockets` package; a sans-I/O one over a raw socket for a client that stops reading):
text cut anywhere spoken sentence by sentence before the text ends, the stream stored whole,
cancel mid-sentence (generation stops, the runner and the slot are free), the limits, the
aliases, and bad messages (an error event, then the close code)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.frames import Opcode
from websockets.sync.client import ClientConnection, connect

from api.realtime_outbox import ClientStalled, Outbox
from harness.processes import wait_until
from harness.stacks import API_KEYS, REALTIME_IDLE_SECONDS, REALTIME_MAX_BUFFERED_CHARS, RunningService
from harness.testdata import read_testdata

RATE = 24_000
LIBRARY_VOICE = "realtime-alex"
MANY_SENTENCES = " ".join(f"This is sentence number {n} of a text that takes a good while to say." for n in range(1, 13))


@dataclass
class Heard:
    """What a session sent back: audio bytes and events in arrival order."""

    audio: bytearray = field(default_factory=bytearray)
    events: list[dict] = field(default_factory=list)
    close_code: int | None = None

    def of(self, kind: str) -> list[dict]:
        return [event for event in self.events if event["type"] == kind]


def ws_url(stack: RunningService) -> str:
    return stack.base_url.replace("http://", "ws://") + "/api/v1/tts/stream"


@pytest.fixture(scope="module", autouse=True)
def library_voice(local_stack: RunningService) -> Iterator[None]:
    files = {"file": ("alex.wav", read_testdata("voice_alex.wav"))}
    assert local_stack.client.post("/api/v1/voice", files=files, data={"name": LIBRARY_VOICE, "overwrite": "true"}).status_code in (200, 201)
    yield
    local_stack.client.delete(f"/api/v1/voice/{LIBRARY_VOICE}", params={"confirm": "true"})


@pytest.fixture
def open_session(local_stack: RunningService) -> Iterator:
    opened: list[ClientConnection] = []

    def open_(headers: dict[str, str] | None = None) -> ClientConnection:
        given = local_stack.headers if headers is None else headers
        connection = connect(ws_url(local_stack), additional_headers=given, max_size=None, open_timeout=60)
        opened.append(connection)
        return connection

    yield open_
    for connection in opened:
        connection.close()


def send(connection: ClientConnection, **message: object) -> None:
    connection.send(json.dumps(message))


def listen(connection: ClientConnection, heard: Heard, until: str, timeout: float = 300) -> dict | None:
    """Reads until an event of type `until` (returned), or until the server closes."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            frame = connection.recv(timeout=max(0.1, deadline - time.monotonic()))
        except ConnectionClosed as closed:
            heard.close_code = closed.rcvd.code if closed.rcvd else None
            return None
        if isinstance(frame, bytes):
            heard.audio += frame
            continue
        event = json.loads(frame)
        heard.events.append(event)
        if event["type"] == until:
            return event


def test_text_cut_inside_words_is_spoken_sentence_by_sentence_before_it_ends(open_session, local_stack: RunningService) -> None:
    """The first sentence is heard while the text is still being written; every sentence's
    place in the audio is reported; the whole stream is stored and equals what was heard."""
    connection = open_session()
    heard = Heard()
    send(connection, type="start", voice=LIBRARY_VOICE, model="original", response_format="pcm", seed=3)
    started = listen(connection, heard, "started")
    assert started["sample_rate"] == RATE and started["model"] == "original" and started["output"].startswith("tts_")
    for piece in ["Hel", "lo the", "re. How are y"]:
        send(connection, type="text", text=piece)
    first = listen(connection, heard, "sentence")
    assert first is not None, heard
    assert first["index"] == 0 and first["text"] == "Hello there." and len(heard.audio) > 0  # spoken before the text went on
    for piece in ["ou to", "day? Fine", " thanks"]:
        send(connection, type="text", text=piece)
    send(connection, type="end")
    done = listen(connection, heard, "done")
    listen(connection, heard, "never")
    assert heard.close_code == 1000
    sentences = heard.of("sentence")
    assert [event["text"] for event in sentences] == ["Hello there.", "How are you today?", "Fine thanks"]
    assert [event["index"] for event in sentences] == [0, 1, 2]
    assert done["sentences"] == 3 and done["duration"] == pytest.approx(len(heard.audio) / 2 / RATE, abs=0.002)
    for before, after in zip(sentences, sentences[1:], strict=False):
        assert before["start"] < before["end"] <= after["start"] + 0.05 < after["end"] + 0.05  # in order; a crossfade may overlap
    assert sentences[-1]["end"] == pytest.approx(done["duration"], abs=0.002)
    stored = local_stack.client.get(f"/api/v1/outputs/{done['output']}")
    assert stored.status_code == 200 and stored.content == bytes(heard.audio)
    metadata = local_stack.stored_output(done["output"])
    assert metadata["parameters"]["text"] == "Hello there. How are you today? Fine thanks" and metadata["parameters"]["websocket"] is True
    local_stack.client.delete(f"/api/v1/outputs/{done['output']}")


def test_cancel_mid_sentence_stops_generation_and_frees_the_runner(open_session, local_stack: RunningService) -> None:
    """Barge-in: a cancel after the first audio drops the sentences not yet spoken and stops
    the chunks in the runner; the session goes on with new text, and when it ends the slot is
    free. The runner did a few chunks' work at most, not the twelve sentences'."""
    done_before = local_stack.health()["tts"]["jobs_done"]
    connection = open_session()
    heard = Heard()
    send(connection, type="start", voice=LIBRARY_VOICE, model="original", response_format="wav", store=False)
    listen(connection, heard, "started")
    send(connection, type="text", text=MANY_SENTENCES + " And")
    while len(heard.audio) <= 44:  # the WAV header comes first
        frame = connection.recv(timeout=300)
        heard.audio += frame if isinstance(frame, bytes) else b""
        assert isinstance(frame, bytes), frame
    send(connection, type="cancel")
    cancelled = listen(connection, heard, "cancelled")
    assert cancelled["dropped_sentences"] >= 10 and cancelled["dropped_chars"] > len(MANY_SENTENCES) // 2
    after_cancel = len(heard.audio)
    send(connection, type="text", text="Short one.")
    send(connection, type="end")
    done = listen(connection, heard, "done")
    assert done["output"] is None and [event["text"] for event in heard.of("sentence")][-1:] == ["Short one."]
    assert len(heard.audio) > after_cancel
    wait_until(lambda: local_stack.health()["generations"]["in_flight"] == 0, 60, "the session let go of its slot")
    generated = local_stack.health()["tts"]["jobs_done"] - done_before
    assert 1 <= generated <= 4, generated  # the cut sentence, the one opened ahead, and "Short one."


def test_aliases_browser_key_and_speed(open_session, local_stack: RunningService) -> None:
    """The aliases of TTS WebSockets modelled on OpenAI Realtime; the key in the start
    message (a browser cannot set headers); a stretched stream keeps its sentence times."""
    connection = open_session(headers={})
    heard = Heard()
    send(connection, type="session.update", session={"api_key": API_KEYS[1], "voice": LIBRARY_VOICE, "model": "turbo", "response_format": "mp3", "speed_factor": 1.5, "store": False})
    assert listen(connection, heard, "started")["response_format"] == "mp3"
    send(connection, type="input_text_buffer.append", text="One two three.")
    send(connection, type="input_text.append", text=" Four five")
    send(connection, type="input_text_buffer.commit")
    send(connection, type="input_text.end")
    done = listen(connection, heard, "done")
    assert [event["text"] for event in heard.of("sentence")] == ["One two three.", "Four five"]
    assert heard.audio[:3] == b"ID3" or heard.audio[0] == 0xFF
    assert heard.of("sentence")[-1]["end"] <= done["duration"] + 0.05


@pytest.mark.parametrize(
    ("first", "then", "code", "error_type", "error_field"),
    [
        ("not json", None, 1003, "invalid_request_error", "message"),
        (b"\x00\x01", None, 1003, "invalid_request_error", "message"),
        ({"type": "text", "text": "Hi."}, None, 1008, "invalid_request_error", "type"),
        ({"type": "start", "exageration": 0.5}, None, 1008, "invalid_request_error", "exageration"),
        ({"type": "start", "model": "turbo", "exaggeration": 0.7}, None, 1008, "invalid_request_error", "exaggeration"),
        ({"type": "start", "voice": "nobody-has-this-voice"}, None, 1008, "not_found", "voice"),
        ({"type": "start", "voice": LIBRARY_VOICE}, {"type": "shout", "text": "Hi."}, 1008, "invalid_request_error", "type"),
        ({"type": "start", "voice": LIBRARY_VOICE}, {"type": "start"}, 1008, "invalid_request_error", "type"),
    ],
)
def test_bad_messages_get_an_error_event_then_a_close_code(open_session, first, then, code: int, error_type: str, error_field: str) -> None:
    connection = open_session()
    heard = Heard()
    connection.send(first if isinstance(first, str | bytes) else json.dumps(first))
    if then is not None:
        assert listen(connection, heard, "started") is not None
        send(connection, **then)
    listen(connection, heard, "never")
    errors = heard.of("error")
    assert heard.close_code == code and len(errors) == 1, heard.events
    assert errors[0]["error"]["type"] == error_type and errors[0]["error"]["field"] == error_field and errors[0]["error"]["request_id"]


def test_keys_limits_and_idle(open_session, local_stack: RunningService) -> None:
    """A plain HTTP request to the route is told to use a WebSocket, and an unknown path beside
    it still gets its 404; no key (header or start) -> invalid_api_key and 1008; too much buffered text -> an error
    event naming `text`, the session goes on; nothing to do for `realtime.idle_seconds` -> 1001."""
    plain = local_stack.client.get("/api/v1/tts/stream")
    assert plain.status_code == 400 and "WebSocket" in plain.json()["error"]["message"]
    assert local_stack.client.get("/api/v1/tts/streams").status_code == 404 and local_stack.client.get("/api/v1/tts").status_code == 405
    heard = Heard()
    connection = open_session(headers={})
    send(connection, type="start", api_key="wrong-key")
    listen(connection, heard, "never")
    assert heard.close_code == 1008 and heard.of("error")[0]["error"]["type"] == "invalid_api_key"

    heard = Heard()
    connection = open_session()
    send(connection, type="start", voice=LIBRARY_VOICE, store=False)
    listen(connection, heard, "started")
    send(connection, type="text", text="x" * (REALTIME_MAX_BUFFERED_CHARS + 1))
    refused = listen(connection, heard, "error")
    assert refused["error"]["type"] == "buffer_full" and refused["error"]["field"] == "text"
    began = time.monotonic()
    listen(connection, heard, "never", timeout=60)
    assert heard.close_code == 1001 and heard.of("error")[-1]["error"]["type"] == "idle_timeout"
    assert time.monotonic() - began >= REALTIME_IDLE_SECONDS - 0.5


def test_a_client_that_stops_reading_blocks_no_one(open_session, local_stack: RunningService) -> None:
    """A client that sends its text and never reads (a raw socket: nothing reads for it):
    another session is served meanwhile, and the stalled one ends (its slot freed) once
    the client has read nothing for `realtime.stalled_client_seconds` while audio waited."""
    from websockets.client import ClientProtocol
    from websockets.uri import parse_uri

    url = ws_url(local_stack)
    log_start = local_stack.log.stat().st_size
    protocol = ClientProtocol(parse_uri(url))
    host, port = local_stack.base_url.removeprefix("http://").split(":")
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting: the window it offers stays small
    raw.connect((host, int(port)))
    request = protocol.connect()
    request.headers["Authorization"] = local_stack.headers["Authorization"]
    protocol.send_request(request)
    raw.sendall(b"".join(protocol.data_to_send()))
    response = b""
    while b"\r\n\r\n" not in response:  # the handshake's answer is the last thing this client reads
        response += raw.recv(1)
    protocol.receive_data(response)
    assert protocol.handshake_exc is None
    for message in [{"type": "start", "voice": LIBRARY_VOICE, "model": "original", "response_format": "wav", "sample_rate": 48000, "store": False}, {"type": "text", "text": MANY_SENTENCES}, {"type": "end"}]:
        protocol.send_frame(_text_frame(json.dumps(message)))
    raw.sendall(b"".join(protocol.data_to_send()))
    try:
        heard = Heard()
        other = open_session()
        send(other, type="start", voice=LIBRARY_VOICE, model="turbo", response_format="pcm", store=False)
        send(other, type="text", text="Meanwhile, another client.")
        send(other, type="end")
        assert listen(other, heard, "done", timeout=300)["sentences"] == 1
        assert local_stack.health()["generations"]["in_flight"] == 1  # the stalled one, still there
        wait_until(lambda: local_stack.health()["generations"]["in_flight"] == 0, 300, "the stalled session was ended and let go of its slot")
        with local_stack.log.open() as log:
            log.seek(log_start)
            assert f"realtime session closed: the client read nothing for {REALTIME_IDLE_SECONDS:g} s" in log.read()  # ended as stalled, not finished
    finally:
        raw.close()


def _text_frame(data: str):
    from websockets.frames import Frame

    return Frame(Opcode.TEXT, data.encode())


def test_the_outbox_holds_at_most_its_limit_and_gives_up_on_a_stalled_reader() -> None:
    """The bound a slow reader meets: the speaker waits for room once `limit_bytes` wait, and
    a send that never completes ends the session after the stalled time."""

    async def scenario() -> tuple[int, int]:
        outbox = Outbox(limit_bytes=10_000)
        never = asyncio.Event()

        async def stuck_send(_: bytes) -> None:
            await never.wait()

        async def produce() -> None:
            for _ in range(100):
                await outbox.room()
                outbox.put(b"x" * 4_000)

        producer = asyncio.create_task(produce())
        with pytest.raises(ClientStalled):
            await outbox.send_all(stuck_send, stuck_send, stalled_seconds=0.2)
        held = outbox.waiting_bytes
        producer.cancel()
        return held, len(outbox._frames)

    held, frames = asyncio.run(scenario())
    assert held <= 10_000 + 4_000 and frames <= 4
