"""Serving voice conversion (`/api/v1/vc`): the source speech (an upload or a stored
output) tokenized, then rendered in the target voice (a library voice, an upload, or the
built-in one), stored like any output."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial

from fastapi import Request, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.errors import APIError
from api.generation import GenerationServing
from api.generation_results import OutputDetails
from api.output_serving import not_found
from api.protocol import ResponseMode
from api.runner_voices import RunnerVoice
from api.uploads import check_duration, read_audio_upload
from audio.decoding import AudioDecodeError, decode
from audio.encoding import output_spec
from contract.formats import OutputFormat
from contract.runner_jobs import AudioPayload, DecodeResult, JobResult, VCJob, VCRenderJob
from outputs.library import OutputNotFoundError
from outputs.store import is_output_name
from storage import ObjectNotFoundError
from voices.metadata import VoiceMetadata

VC_SOURCE_SAMPLE_RATE = 16_000  # what S3Gen's tokenizer consumes


@dataclass(frozen=True)
class VCForm:
    """The route's form fields, validated by FastAPI."""

    input_audio: UploadFile | None
    input_filename: str | None
    target_voice: str | None
    target_audio: UploadFile | None
    output_format: OutputFormat
    sample_rate: int | None
    response_mode: ResponseMode


class VCServing(GenerationServing):
    async def _source(self, input_audio: UploadFile | None, input_filename: str | None) -> AudioPayload:
        limits = self.settings.limits
        if (input_audio is None) == (input_filename is None):
            raise APIError(422, "send exactly one of input_audio (an upload) or input_filename (a stored output)", field="input_audio")
        if input_audio is not None:
            upload = await read_audio_upload(
                input_audio, "input_audio", max_bytes=limits.max_upload_bytes, sample_rate=VC_SOURCE_SAMPLE_RATE,
                min_seconds=limits.vc_source_min_seconds, max_seconds=limits.vc_source_max_seconds,
            )
            return AudioPayload.from_array(upload.audio.samples, VC_SOURCE_SAMPLE_RATE)
        assert input_filename is not None
        if not is_output_name(input_filename):
            raise APIError(422, f"input_filename {input_filename!r} is not an output file name (see GET /api/v1/outputs)", field="input_filename")
        try:
            stored = await run_in_threadpool(self.results.outputs.get, input_filename)
            data = await run_in_threadpool(self.results.outputs.store.storage.get, self.results.outputs.store.audio_key(input_filename))
            pcm_rate = stored.sample_rate if stored.format == OutputFormat.pcm.value else None
            audio = await run_in_threadpool(partial(decode, data, VC_SOURCE_SAMPLE_RATE, raw_pcm_rate=pcm_rate))
        except (OutputNotFoundError, ObjectNotFoundError):
            raise not_found(input_filename, "input_filename") from None
        except AudioDecodeError as exc:
            raise APIError(400, f"input_filename: {exc}", field="input_filename") from None
        check_duration(audio, "input_filename", min_seconds=limits.vc_source_min_seconds, max_seconds=limits.vc_source_max_seconds)
        return AudioPayload.from_array(audio.samples, VC_SOURCE_SAMPLE_RATE)

    async def _target(self, target_voice: str | None, target_audio: UploadFile | None) -> tuple[VoiceMetadata | None, RunnerVoice | None]:
        if target_voice is not None and target_audio is not None:
            raise APIError(422, "send at most one of target_voice (a voice name) or target_audio (an upload)", field="target_voice")
        if target_voice is not None:
            return await self.voices.runner_voice(target_voice, "target_voice")
        if target_audio is not None:
            return None, await self.voices.uploaded_voice(target_audio, "target_audio")
        return None, None

    async def vc(self, request: Request, form: VCForm) -> Response:
        with self.slots.hold():
            source = await self._source(form.input_audio, form.input_filename)
            target_metadata, target = await self._target(form.target_voice, form.target_audio)
            runner = self.models.vc
            model_source = await self.runners.model_source(runner.name, runner.info)
            started = time.perf_counter()
            release_voice = self.in_use.hold(target)
            try:
                tokens: DecodeResult = await self.runners.run(runner.stages.decode, lambda _: VCJob(source=source), None, "vc", "target_voice")
                result: JobResult = await self.runners.run(
                    runner.stages.render, lambda reference: VCRenderJob(target_voice=reference, speech_tokens=tokens.speech_tokens), target, "vc", "target_voice"
                )
            finally:
                release_voice()
            generation_seconds = time.perf_counter() - started
            if target_metadata is not None:
                await run_in_threadpool(self.voices.library.uses.record, target_metadata.name)
            parameters = {
                "input_filename": form.input_filename,
                "input_upload": form.input_audio.filename if form.input_audio else None,
                "target_voice": form.target_voice,
                "target_upload": form.target_audio.filename if form.target_audio else None,
                "output_format": form.output_format.value,
                "response_mode": form.response_mode,
                "chunks": result.chunks,
                "conditioning_cache_hit": result.conditioning_cache_hit,
            }
            assert result.audio is not None
            spec = output_spec(form.output_format, form.sample_rate, self.settings.audio, result.audio.sample_rate)
            target_label = form.target_voice or ("upload" if form.target_audio is not None else "default")
            return await self.results.store(
                request, "vc", result.audio.to_array(), result.audio.sample_rate, spec, form.response_mode, {"voice": target_label},
                OutputDetails(generation_seconds, form.target_voice, parameters | {"sample_rate": spec.sample_rate}, model_source),
            )
