"""The OpenAI-compatible routes: `audio.speech.create`, the model list, the voice list (tagged
`OpenAI` in the document; errors in OpenAI's shape)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.dependencies import ServingDep
from api.openai_protocol import ModelList, ModelObject, SpeechRequest, VoiceListing
from api.routes.responses import OPENAI_ERRORS, SPEECH_RESPONSE

router = APIRouter(tags=["OpenAI"])


@router.post("/v1/audio/speech", response_class=Response, responses={**OPENAI_ERRORS, 200: SPEECH_RESPONSE})
async def openai_speech(request: Request, body: SpeechRequest, serving: ServingDep) -> Response:
    """OpenAI's `audio.speech.create`: the audio streams while it is generated. Headers
    `X-Voice-Resolved`/`X-Voice-Source` say which voice spoke; `X-Output-Filename` where
    the stored copy will be once the stream completed."""
    return await serving.openai.speech(request, body)


@router.get("/v1/models", response_model=ModelList, responses=OPENAI_ERRORS)
async def openai_models(serving: ServingDep) -> ModelList:
    """The accepted `model` names: those of `openai.model_map` whose Chatterbox model is enabled."""
    return serving.openai.models()


@router.get("/v1/models/{model}", response_model=ModelObject, responses=OPENAI_ERRORS)
async def openai_model(serving: ServingDep, model: str) -> ModelObject:
    return serving.openai.model_object(model)


@router.get("/v1/audio/voices", response_model=VoiceListing, responses=OPENAI_ERRORS)
async def openai_voices(serving: ServingDep) -> VoiceListing:
    """The names `voice` accepts: library voices, aliases, predefined files, and what any
    other name falls back to."""
    return await serving.openai.voices()
