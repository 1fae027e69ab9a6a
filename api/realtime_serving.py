"""`/api/v1/tts/stream`: one WebSocket session that takes text as it is written and speaks
each sentence as soon as its end is seen (the messages: `api.realtime_protocol`; the
speaking: `api.realtime_speaker`; docs/realtime.md).

A session is checked as an HTTP request is (the API key from the `Authorization` header or,
for browsers, the `start` message; the per-key rate limit, one request per connection; the
speech parameters and the voice as `/api/v1/tts` checks them), then holds one generation
slot until it ends. Three things run at once: reading the client's messages (here), the
speaker, and the sender (`Outbox`), so a slow reader never blocks reading a `cancel`, and
no session waits on another: each has its own tasks and audio thread, and they meet only
in the runner's batches. What ends a session abnormally ends it with an `error` event and a
close code: 1008 for a message that breaks the protocol or a limit, 1003 for a frame that
is not JSON text, 1009 for one too large, 1013 when the server is busy, 1011 when
generation failed, 1001 when idle.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import numpy as np
from fastapi import WebSocket
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.websockets import WebSocketDisconnect, WebSocketState

from api.access import AccessRules
from api.chunk_windows import ChunkWindows
from api.errors import APIError
from api.generation_results import OutputDetails
from api.protocol import TTSRequest
from api.realtime_admission import ClientGone, SessionClosed, admit, closed_by, error_detail, receive_message, refusal
from api.realtime_outbox import ClientStalled, Outbox
from api.realtime_protocol import (
    CancelledEvent,
    DoneEvent,
    ErrorEvent,
    StartedEvent,
    StreamCancel,
    StreamEnd,
    StreamFlush,
    StreamStart,
    StreamText,
)
from api.realtime_speaker import StreamSpeaker, Utterance
from api.request_ids import current_request_id, request_id_of
from api.speech_plan import SpeechPlan, check_model_parameters, plan_speech, speech_script
from api.speech_serving import SpeechServing, changed_speed
from audio.encoding import output_spec
from config import RealtimeSettings
from contract.families import FAMILIES
from lifecycle.drain import ShuttingDownError
from outputs.store import new_output_name
from text.chunks import script_chunks
from text.sentence_buffer import SentenceBuffer

logger = logging.getLogger(__name__)

STREAMED_TEXT = "(streamed)"  # the plan's text: the session's own text arrives sentence by sentence
SPEECH_FIELDS = set(TTSRequest.model_fields) - {"text", "output_format", "response_mode", "stream_chunks"}


def session_end(failed: BaseExceptionGroup) -> Exception:
    """What ends a session whose tasks failed, from the first of their failures that says the
    most (a refusal, a client that stopped reading or left, a refused generation, a shutdown,
    then anything else: a failed generation, logged)."""
    leaves: list[BaseException] = []
    pending: list[BaseException] = [failed]
    while pending:
        exc = pending.pop(0)
        pending += exc.exceptions if isinstance(exc, BaseExceptionGroup) else []
        leaves += [] if isinstance(exc, BaseExceptionGroup) else [exc]
    for exc in leaves:
        if isinstance(exc, SessionClosed):
            return exc
    for exc in leaves:
        if isinstance(exc, ClientStalled):
            logger.warning("realtime session closed: %s", exc)
            return SessionClosed(1008)
    if any(isinstance(exc, WebSocketDisconnect | ClientGone | OSError) for exc in leaves):
        return ClientGone()
    for exc in leaves:
        if isinstance(exc, APIError):
            return closed_by(exc)
        if isinstance(exc, ShuttingDownError):
            return refusal(1001, "the server shut down before the speech was finished; reconnect (another replica will answer)", error_type="shutting_down")
    logger.error("realtime session: speech generation failed", exc_info=leaves[0] if leaves else None)
    return refusal(1011, "speech generation failed; see the server log", error_type="model_error")


@dataclass
class Session:
    """What a started session speaks with."""

    plan: SpeechPlan
    tags: list[str] | None
    speaker: StreamSpeaker
    outbox: Outbox
    filename: str | None
    started: float


class RealtimeServing:
    def __init__(self, speech: SpeechServing, configured: RealtimeSettings) -> None:
        self.speech = speech
        self.configured = configured

    async def serve(self, websocket: WebSocket, access: AccessRules) -> None:
        current_request_id.set(request_id_of(Headers(scope=websocket.scope)))
        await websocket.accept()
        deadline = time.monotonic() + self.configured.max_connection_seconds
        try:
            start = await admit(websocket, access, self.configured, deadline)
            await self._speak(websocket, start, deadline)
        except SessionClosed as closed:
            await self._close(websocket, closed)
        except (WebSocketDisconnect, ClientGone):
            logger.info("realtime session: the client left")

    async def _close(self, websocket: WebSocket, closed: SessionClosed) -> None:
        if websocket.client_state is not WebSocketState.CONNECTED:
            return
        try:
            if closed.error is not None:
                await asyncio.wait_for(websocket.send_text(ErrorEvent(error=closed.error).model_dump_json()), 5)
            await asyncio.wait_for(websocket.close(closed.code), 5)
        except Exception:  # the client is gone or does not read: nothing more to tell it
            logger.info("realtime session closed without its last words", extra={"code": closed.code})

    async def _speak(self, websocket: WebSocket, start: StreamStart, deadline: float) -> None:
        speech = self.speech
        try:
            runner = speech.models.pick(start.model)
            check_model_parameters(start, runner.name)
            info = await speech.runners.info(runner.name, runner.info)
            speech.slots.acquire()
        except APIError as exc:
            raise closed_by(exc) from None
        release_voice = speech.in_use.hold(None)
        session: Session | None = None
        try:
            try:
                voice = await speech.library_voice(start.voice)
                release_voice = speech.in_use.hold(voice.reference)
                model_source = await speech.runners.model_source(runner.name, runner.info)
                body = TTSRequest(text=STREAMED_TEXT, output_format=start.response_format, response_mode="stream", stream_chunks=True, **start.model_dump(include=SPEECH_FIELDS))
                tags = info.tags if FAMILIES[runner.name].tags else None
                plan = plan_speech(speech.settings.tts, body, runner.name, speech_script(STREAMED_TEXT, tags, speech.settings.tts, "text"), voice, model_source, {"streamed": True, "websocket": True})
            except APIError as exc:
                raise closed_by(exc) from None
            spec = output_spec(body.output_format, body.sample_rate, speech.settings.audio, info.sample_rate)
            outbox = Outbox(self.configured.outbox_bytes)

            def open_chunk(text: str, index: int) -> ChunkWindows:
                return ChunkWindows(speech.chunks.stream(runner.stages, plan, text, index))

            async def stretch(samples: np.ndarray) -> np.ndarray:
                return (await changed_speed(samples, info.sample_rate, plan.speed, plan.library))[0]

            speaker = StreamSpeaker(
                open_chunk=open_chunk, stretch=None if plan.speed == 1 else stretch, spec=spec, source_rate=info.sample_rate,
                crossfade_ms=speech.settings.tts.crossfade_ms, outbox=outbox, keep=start.store,
            )
            filename = new_output_name("tts", spec.format.extension, plan.summary) if start.store else None
            session = Session(plan, tags, speaker, outbox, filename, time.perf_counter())
            outbox.put(StartedEvent(
                model=runner.name, voice=plan.voice_name, language=plan.resolved["language"], response_format=start.response_format, sample_rate=spec.sample_rate, output=filename,
            ).model_dump_json())
            await speaker.open()
            logger.info("realtime session started", extra={"model": runner.name, "voice": plan.voice_name, "format": start.response_format})
            await self._run(websocket, session, deadline)
        finally:
            if session is not None:
                await session.speaker.close()
            release_voice()
            speech.slots.release()

    async def _run(self, websocket: WebSocket, session: Session, deadline: float) -> None:
        """Reading, speaking and sending at once; the first of them to fail ends the others."""
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(session.outbox.send_all(websocket.send_bytes, websocket.send_text, self.configured.stalled_client_seconds))
                group.create_task(self._speak_all(session))
                await self._read(websocket, session, deadline)
        except BaseExceptionGroup as failed:
            raise session_end(failed) from None
        await asyncio.wait_for(websocket.close(1000), 5)

    async def _speak_all(self, session: Session) -> None:
        """Every sentence, then the stored copy and the `done` event; then the sender ends."""
        speaker = session.speaker
        await speaker.run()
        output = None
        if speaker.spoken:
            await self.speech.record_use(session.plan.voice)
            if session.filename is not None:
                output = await self._store(session)
        await speaker.send_event(DoneEvent(output=output, duration=round(speaker.duration, 3), sentences=len(speaker.spoken)))
        session.outbox.close()

    async def _store(self, session: Session) -> str | None:
        speaker, plan = session.speaker, session.plan
        assert session.filename is not None
        spoken = " ".join(utterance.text for utterance in speaker.spoken)
        details = {"text": spoken, "sentences": len(speaker.spoken), "windows": speaker.windows, "sample_rate": speaker.spec.sample_rate}
        try:
            data = await run_in_threadpool(speaker.kept_file)
            await self.speech.results.save_encoded(
                "tts", data, speaker.duration, speaker.spec, session.filename,
                OutputDetails(time.perf_counter() - session.started, plan.voice_name, plan.parameters | details, plan.model_source),
            )
        except Exception:  # the listener has the audio; only the stored copy is lost
            logger.exception("realtime output could not be stored", extra={"output": session.filename})
            return None
        return session.filename

    async def _read(self, websocket: WebSocket, session: Session, deadline: float) -> None:
        """Client messages until `end`: text into sentences for the speaker."""
        speech_settings = self.speech.settings.tts
        buffer = SentenceBuffer(session.plan.resolved["language"], speech_settings.max_chunk_chars)
        speaker = session.speaker
        sentences = 0

        def speak(texts: list[str]) -> None:
            nonlocal sentences
            for text in texts:
                try:
                    script = speech_script(text, session.tags, speech_settings, "text")
                except APIError as exc:  # that sentence only (a bad pause tag): said, and skipped
                    session.outbox.put(ErrorEvent(error=error_detail(exc.message, field=exc.field, error_type=exc.error_type)).model_dump_json())
                    continue
                first_chars = speech_settings.stream_first_chunk_chars if sentences == 0 else None
                chunks = script_chunks(script, session.plan.resolved["language"], speech_settings.max_chunk_chars, first_chars)
                if chunks:
                    speaker.add(Utterance(sentences, text.strip(), chunks, script.trailing_pause))
                    sentences += 1

        while True:
            try:
                message = await receive_message(websocket, self.configured, max(0.0, min(self.configured.idle_seconds, deadline - time.monotonic())))
            except TimeoutError:
                if time.monotonic() >= deadline:
                    raise refusal(1008, f"a connection lasts at most {self.configured.max_connection_seconds:g} s (realtime.max_connection_seconds): reconnect", error_type="connection_time_exceeded") from None
                if speaker.busy:
                    continue
                raise refusal(1001, f"no message for {self.configured.idle_seconds:g} s (realtime.idle_seconds) with nothing to speak", error_type="idle_timeout") from None
            if isinstance(message, StreamText):
                if len(buffer.text) + speaker.waiting_chars + len(message.text) > self.configured.max_buffered_chars:
                    session.outbox.put(ErrorEvent(error=error_detail(
                        f"more than {self.configured.max_buffered_chars} characters would wait to be spoken (realtime.max_buffered_chars): this piece was dropped; send more after `sentence` events",
                        field="text", error_type="buffer_full",
                    )).model_dump_json())
                    continue
                speak(buffer.add(message.text))
            elif isinstance(message, StreamFlush):
                speak(buffer.flush())
            elif isinstance(message, StreamCancel):
                dropped_chars = buffer.clear() + speaker.waiting_chars
                dropped = await speaker.cancel()
                await speaker.send_event(CancelledEvent(dropped_sentences=dropped, dropped_chars=dropped_chars))  # behind the cut sentence's last audio
            elif isinstance(message, StreamEnd):
                speak(buffer.flush())
                speaker.end_input()
                return
            else:
                raise refusal(1008, "start was sent already: one session speaks with one voice and model; open another connection for another", field="type")
