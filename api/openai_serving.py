"""Serving logic of the OpenAI-compatible routes: OpenAI's request mapped onto the same
generation path as `/api/v1/tts` (always streamed while generated, as OpenAI does)."""

from __future__ import annotations

from functools import partial

from fastapi import Request
from fastapi.responses import Response

from api.errors import APIError
from api.openai_protocol import OPENAI_CONTENT_TYPES, ModelList, ModelObject, SpeechRequest, VoiceListing
from api.protocol import TTSRequest
from api.runner_calls import ModelRunners, RunnerCalls
from api.speech_serving import SpeechServing
from api.voice_resolution import VoiceResolver
from config import OpenAISettings
from contract.families import ModelName
from contract.formats import OutputFormat

MODELS_CREATED = 1_735_689_600  # 2025-01-01: OpenAI's model objects carry a creation time
PCM_SAMPLE_RATE = 24_000  # OpenAI's pcm is 24 kHz whatever else is configured


class OpenAIServing:
    def __init__(self, settings: OpenAISettings, speech_serving: SpeechServing, runners: RunnerCalls, models: ModelRunners, resolver: VoiceResolver) -> None:
        self.settings = settings
        self.speech_serving = speech_serving
        self.runners = runners
        self.model_runners = models
        self.resolver = resolver

    def _served(self) -> dict[str, ModelName]:
        """The accepted names: those mapped to an enabled model."""
        return {name: model for name, model in self.settings.model_map.items() if model in self.model_runners.enabled}

    def models(self) -> ModelList:
        return ModelList(data=[ModelObject(id=name, created=MODELS_CREATED, root=model) for name, model in self._served().items()])

    def model(self, model_id: str) -> ModelName:
        """The Chatterbox model an OpenAI model name runs, or OpenAI's 404."""
        served = self._served()
        if model_id not in served:
            raise APIError(404, f"The model `{model_id}` does not exist; GET /v1/models lists the models: {', '.join(served)}", field="model", error_type="model_not_found")
        return served[model_id]

    def model_object(self, model_id: str) -> ModelObject:
        return ModelObject(id=model_id, created=MODELS_CREATED, root=self.model(model_id))

    async def voices(self) -> VoiceListing:
        runner = self.model_runners.pick(None)
        info = await self.runners.info(runner.name, runner.info)
        return await self.resolver.listing(info.has_default_voice)

    async def speech(self, request: Request, body: SpeechRequest) -> Response:
        model = self.model(body.model)
        runner = self.model_runners.pick(model)
        info = await self.runners.info(runner.name, runner.info)
        tts = TTSRequest(
            model=model,
            language=body.language,
            text=body.input,
            exaggeration=body.exaggeration,
            cfg_weight=body.cfg_weight,
            temperature=body.temperature,
            seed=body.seed,
            speed_factor=body.speed,
            output_format=body.response_format,
            sample_rate=PCM_SAMPLE_RATE if body.response_format is OutputFormat.pcm else None,
            response_mode="stream",
            stream_chunks=True,
        )
        openai_parameters = {"model": body.model, "voice": body.voice_name, "instructions": body.instructions, "stream_format": body.stream_format}
        return await self.speech_serving.speak(
            request, tts, partial(self.resolver.resolve, body.voice_name, info.has_default_voice),
            sse=body.stream_format == "sse",
            media_type=OPENAI_CONTENT_TYPES.get(body.response_format, body.response_format.content_type),
            store=self.settings.store_outputs,
            extra_parameters={"openai": openai_parameters},
            text_field="input",
        )
