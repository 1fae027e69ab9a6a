"""Speech: `/api/v1/tts` (text in a library voice) and `/api/v1/vc` (speech said again in
another voice). Both create an output, so both honour `Idempotency-Key`."""

from __future__ import annotations

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response

from api.dependencies import ServingDep
from api.errors import validated
from api.protocol import OutputResponse, ResponseMode, SampleRateField, TTSRequest
from api.route_policies import route_policy
from api.routes.responses import AUDIO_RESPONSE, ERRORS
from api.vc_serving import VCForm
from contract.formats import SAMPLE_RATES, OutputFormat

router = APIRouter()


@router.post("/api/v1/tts", response_model=OutputResponse, responses={**ERRORS, 200: AUDIO_RESPONSE})
@route_policy(idempotent=True)
async def tts(request: Request, body: TTSRequest, serving: ServingDep) -> Response:
    """Speak `text` in a library voice (or the built-in one)."""
    return await serving.speech.tts(request, body)


@router.post("/api/v1/vc", response_model=OutputResponse, responses={**ERRORS, 200: AUDIO_RESPONSE})
@route_policy(idempotent=True)
async def vc(
    request: Request,
    serving: ServingDep,
    input_audio: UploadFile | None = File(None, description="Source speech to convert (upload)."),
    input_filename: str | None = Form(None, description="Or: a stored output to convert."),
    target_voice: str | None = Form(None, description="Target voice name from the library."),
    target_audio: UploadFile | None = File(None, description="Or: a target voice recording (upload)."),
    output_format: OutputFormat = Form(OutputFormat.wav),
    sample_rate: int | None = Form(None, description=f"Output sample rate, one of {', '.join(map(str, SAMPLE_RATES))}; omitted: the configured one, else 24000."),
    response_mode: ResponseMode = Form("url"),
) -> Response:
    """Say the source speech again in the target voice."""
    rate = validated(SampleRateField, {"sample_rate": sample_rate}, "body").sample_rate
    form = VCForm(input_audio, input_filename, target_voice, target_audio, output_format, rate, response_mode)
    return await serving.vc.vc(request, form)
