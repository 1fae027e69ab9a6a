"""`/api/v1/tts/stream`: the WebSocket that takes text as it is written and sends audio and
events back (docs/realtime.md). WebSocket routes are not in the OpenAPI document; its
messages are `api.realtime_protocol`'s models."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from api.dependencies import ServingDep

router = APIRouter()


@router.websocket("/api/v1/tts/stream")
async def tts_stream(websocket: WebSocket, serving: ServingDep) -> None:
    await serving.realtime.serve(websocket, websocket.app.state.access)
