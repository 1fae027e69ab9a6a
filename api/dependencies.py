"""How a route reaches the serving code: the service builds one `Serving` when it starts
(`service.py`) and keeps it on the app's state, and every route takes it as a FastAPI
dependency (`serving: ServingDep`), as vLLM's routes take their handlers from the app state.
Resolving it reads no request data, so it adds nothing to the OpenAPI document."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from api.concat_serving import ConcatServing
from api.health_serving import HealthServing
from api.job_serving import JobServing
from api.openai_serving import OpenAIServing
from api.output_serving import OutputServing
from api.realtime_serving import RealtimeServing
from api.speech_serving import SpeechServing
from api.vc_serving import VCServing
from api.voice_backups import VoiceBackups
from api.voice_serving import VoiceServing
from api.voice_uploads import VoiceUploads


@dataclass(frozen=True)
class Serving:
    """The serving objects the routes hand over to, one per job."""

    health: HealthServing
    speech: SpeechServing
    vc: VCServing
    voices: VoiceServing
    voice_uploads: VoiceUploads
    voice_backups: VoiceBackups
    concat: ConcatServing
    jobs: JobServing
    openai: OpenAIServing
    outputs: OutputServing
    realtime: RealtimeServing


def serving_of(connection: HTTPConnection) -> Serving:
    """A request's or a WebSocket's."""
    serving: Serving = connection.app.state.serving
    return serving


ServingDep = Annotated[Serving, Depends(serving_of)]
