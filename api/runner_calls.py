"""Calling the model runners: one retry on a broken connection, runner failures as 503,
voices sent by reference (and again with their audio when a runner asks), and what each
runner loaded, asked once.

Every route that generates (TTS, OpenAI speech, VC) goes through `RunnerCalls`, so they
share one behaviour for a runner that is restarting, draining or failing.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import numpy as np

from api.errors import APIError
from api.runner_voices import RunnerVoice, VoiceChangedError
from contract.families import ModelName
from contract.runner_jobs import JobOutcome, RunnerInfo, VoiceReference
from contract.stream_frames import FrameError, FrameReader, WindowFrame
from lifecycle.drain import Drain, ShuttingDownError

logger = logging.getLogger(__name__)

RunnerCall = Callable[[list[Any]], Awaitable[list[Any]]]
RunnerStreamCall = Callable[[Any], AsyncIterator[bytes]]
Window = tuple[WindowFrame, np.ndarray]
RunnerInfoCall = Callable[[], Awaitable[RunnerInfo]]


@dataclass(frozen=True)
class RunnerStages:
    """A runner's calls: `decode` (TTS: T3's loop; VC: the S3 tokenizer, adaptively
    batched), `render` (S3Gen, one job a call, so a request waits for its own render only),
    and for TTS `stream` (both at once, audio in windows as the tokens arrive)."""

    decode: RunnerCall
    render: RunnerCall
    stream: RunnerStreamCall | None = None


@dataclass(frozen=True)
class ModelRunner:
    """One runner as the API reaches it: an enabled TTS model's, or VC's (`name` "vc")."""

    name: str
    stages: RunnerStages
    info: RunnerInfoCall


class ModelRunners:
    """The runners of the enabled TTS models (a request names one or gets the default) and
    VC's. `runner_of` resolves a runner at call time (BentoML's dependency proxies are
    reached through the service instance)."""

    def __init__(self, runner_of: Callable[[str], ModelRunner], enabled: list[ModelName], default: ModelName) -> None:
        self._runner_of = runner_of
        self.enabled = enabled
        self.default = default

    def pick(self, name: ModelName | None) -> ModelRunner:
        """The runner of `name` (None: the default), or a 400 naming `model`."""
        name = name or self.default
        if name not in self.enabled:
            raise APIError(400, f"model {name!r} is not enabled on this server; use one of: {', '.join(self.enabled)}", field="model")
        return self._runner_of(name)

    @property
    def vc(self) -> ModelRunner:
        return self._runner_of("vc")

    def tts_infos(self) -> dict[ModelName, RunnerInfoCall]:
        """Each enabled TTS model's `info` call, for health."""
        return {name: self._runner_of(name).info for name in self.enabled}


def runner_unavailable(kind: str) -> APIError:
    return APIError(503, f"the {kind} model runner is unavailable; try again later", error_type="model_unavailable")


class RunnerCalls:
    def __init__(self, drain: Drain) -> None:
        self.drain = drain
        self._info: dict[str, RunnerInfo] = {}

    async def _call(self, call: RunnerCall, job: Any, kind: str) -> Any:
        """One runner call, tried again once when the connection broke under it: the client
        may reuse a kept-alive connection the runner closed a moment before (a broken pipe
        on send), and a job is deterministic (seeded), so a second try is safe. A runner
        that is really gone fails the second try too."""
        try:
            [result] = await self.drain.guard(call([job]))
        except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError) as exc:
            logger.warning("%s runner connection broke (%s); trying once more", kind, exc)
            [result] = await self.drain.guard(call([job]))
        return result

    async def _call_or_503(self, call: RunnerCall, job: Any, kind: str) -> Any:
        try:
            return await self._call(call, job, kind)
        except ShuttingDownError:
            raise
        except Exception:
            logger.exception("%s runner call failed", kind)
            raise runner_unavailable(kind) from None

    async def run(self, call: RunnerCall, job_for: Callable[[VoiceReference | None], Any], voice: RunnerVoice | None, kind: str, voice_field: str) -> Any:
        """The job `job_for` makes for the voice, sent by reference; sent again with the
        voice's audio when the runner has not got it cached and cannot read it itself."""
        result = await self._call_or_503(call, job_for(voice.reference if voice else None), kind)
        if result.needs_reference and voice is not None:
            result = await self._call_or_503(call, job_for(await _with_audio(voice, voice_field)), kind)
        if voice is not None and not result.error:
            voice.spoken = True
        _raise_for(result, kind, voice_field)
        return result

    async def _frames(self, call: RunnerStreamCall, job: Any) -> AsyncIterator[Window]:
        """A streamed call's frames; a cut stream (the runner died mid-frame) is an error,
        and the call is closed (the runner stops) however the caller stops reading."""
        reader = FrameReader()
        chunks = call(job)
        try:
            while True:
                try:
                    data = await self.drain.guard(anext(chunks))
                except StopAsyncIteration:
                    break
                for window in reader.feed(data):
                    yield window
        finally:
            with contextlib.suppress(RuntimeError):  # its read, cancelled a moment ago, is still ending it
                await chunks.aclose()
        if reader.pending:
            raise FrameError("the runner's stream was cut mid-frame")

    async def _first_frame(self, call: RunnerStreamCall, job: Any, kind: str) -> tuple[Window, AsyncIterator[Window]]:
        """The stream's first frame (with `_call`'s one retry on a broken connection: nothing
        was received yet) and the stream to read on; a runner failure is a 503."""
        for attempt in (1, 2):
            frames = self._frames(call, job)
            try:
                return await anext(frames), frames
            except ShuttingDownError:
                raise
            except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError) as exc:
                if attempt == 1:
                    logger.warning("%s runner connection broke (%s); trying once more", kind, exc)
                    continue
                logger.exception("%s runner stream failed", kind)
            except Exception:
                logger.exception("%s runner stream failed", kind)
            break
        raise runner_unavailable(kind)

    async def stream(self, call: RunnerStreamCall, job_for: Callable[[VoiceReference | None], Any], voice: RunnerVoice | None, kind: str, voice_field: str) -> AsyncIterator[Window]:
        """`run` for a streamed job: its windows as the runner renders them, up to the last
        frame (with the job's totals). The voice goes by reference, and again with its audio
        when the runner asks in its first frame; an error frame raises as `run` does, a
        runner lost mid-stream is a 503."""
        (header, samples), frames = await self._first_frame(call, job_for(voice.reference if voice else None), kind)
        try:
            if header.needs_reference and voice is not None:
                await frames.aclose()
                (header, samples), frames = await self._first_frame(call, job_for(await _with_audio(voice, voice_field)), kind)
            if voice is not None and not header.error:
                voice.spoken = True
            while True:
                _raise_for(header, kind, voice_field)
                yield header, samples
                if header.last:
                    return
                try:
                    header, samples = await anext(frames)
                except StopAsyncIteration:
                    raise FrameError("the runner's stream ended without its last frame") from None
        except (FrameError, aiohttp.ClientError) as exc:
            logger.error("%s runner stream broke: %s", kind, exc)
            raise runner_unavailable(kind) from None
        finally:
            await frames.aclose()

    async def info(self, kind: str, info: RunnerInfoCall) -> RunnerInfo:
        """What a runner loaded (its source is recorded in every output's metadata); asked
        once, since it does not change while the runner lives."""
        if kind not in self._info:
            try:
                self._info[kind] = await info()
            except Exception:
                logger.exception("%s runner info failed", kind)
                raise runner_unavailable(kind) from None
        return self._info[kind]

    async def model_source(self, kind: str, info: RunnerInfoCall) -> str:
        return (await self.info(kind, info)).model_source


async def _with_audio(voice: RunnerVoice, voice_field: str) -> VoiceReference:
    """The voice with its audio, for a runner that asked; a voice replaced since the request
    began speaking in it is a 409."""
    try:
        return await voice.with_audio()
    except VoiceChangedError as exc:
        raise APIError(409, str(exc), field=voice_field, error_type="conflict") from None


def _raise_for(outcome: JobOutcome, kind: str, voice_field: str) -> None:
    """A failed job's error as the client gets it: its own input's fault (400), or the model's (500)."""
    if outcome.error:
        if outcome.error_is_client_fault:
            raise APIError(400, outcome.error, field=voice_field)
        raise APIError(500, f"{kind} generation failed; see the server log", error_type="model_error")
