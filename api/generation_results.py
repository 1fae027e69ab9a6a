"""Storing what a generation made: encode it (in the thread pool), write it with its JSON
companion, and answer with its URL or its bytes.

TTS, OpenAI speech and VC store their results the same way; streamed speech hands over the
bytes it already sent (`save_encoded`), so nothing is encoded twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np
from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.output_serving import output_response
from api.protocol import ResponseMode
from audio.encoding import EncodeSpec, encode
from contract.metrics import timed_stage
from outputs.library import OutputLibrary
from outputs.store import OutputMetadata, OutputType, new_output_name

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutputDetails:
    """What the companion records besides the audio's own facts."""

    generation_seconds: float
    voice: str | None
    parameters: dict[str, Any]
    model_source: str


class GenerationResults:
    def __init__(self, outputs: OutputLibrary) -> None:
        self.outputs = outputs

    async def save_encoded(self, kind: OutputType, data: bytes, seconds: float, spec: EncodeSpec, filename: str, details: OutputDetails) -> OutputMetadata:
        metadata = OutputMetadata(
            filename=filename,
            type=kind,
            created_at=datetime.now(timezone.utc),
            format=spec.format.value,
            content_type=spec.format.content_type,
            sample_rate=spec.sample_rate,
            duration_seconds=round(seconds, 3),
            size_bytes=len(data),
            generation_seconds=round(details.generation_seconds, 3),
            model_source=details.model_source,
            voice=details.voice,
            parameters=details.parameters | {"bitrate": spec.bitrate},
        )
        await run_in_threadpool(self.outputs.save, data, metadata)
        logger.info("output stored", extra={"output": filename, "seconds": metadata.duration_seconds, "generation_seconds": metadata.generation_seconds})
        return metadata

    async def store(
        self, request: Request, kind: OutputType, samples: np.ndarray, source_rate: int, spec: EncodeSpec, response_mode: ResponseMode,
        summary: dict[str, Any], details: OutputDetails,
    ) -> Response:
        """Encode, store, and answer: the output's URL (`url`) or its bytes (`stream`)."""
        filename = new_output_name(kind, spec.format.extension, summary)
        with timed_stage("api", "encode"):
            data = await run_in_threadpool(encode, samples, source_rate, spec)
        metadata = await self.save_encoded(kind, data, len(samples) / source_rate, spec, filename, details)
        if response_mode == "stream":
            return Response(data, media_type=spec.format.content_type, headers={"Content-Disposition": f'attachment; filename="{filename}"', "X-Output-Filename": filename})
        return output_response(request, metadata)
