"""The runner's streamed answer to one chunk: audio windows as they are rendered, in frames.

BentoML streams bytes between services, but HTTP keeps no message boundaries (the client
reads whatever arrived), so each message is framed here: two big-endian lengths, a JSON
header (`WindowFrame`) and that many float32 samples. Raw samples rather than base64 in
JSON: a window is tens of kilobytes and the API unpacks one per window, so this keeps the
API's CPU per audio second small (`benchmarks/request_overhead.py`).

Everything is in band, errors too: once BentoML has sent its first chunk, an exception in
the runner only ends the HTTP body, which would look like a finished stream.
"""

from __future__ import annotations

import struct

import numpy as np
from pydantic import Field

from contract.runner_jobs import JobOutcome

_LENGTHS = struct.Struct(">II")
MAX_HEADER_BYTES = 64 * 1024
MAX_WINDOW_SAMPLES = 24_000 * 120  # longer than any chunk the API sends


class WindowFrame(JobOutcome):
    """One message of a chunk's stream: a window of audio, or the chunk's end (`last`, with
    its totals), or its failure (`error`, as every runner result reports one)."""

    sample_rate: int = 0
    samples: int = Field(0, ge=0, le=MAX_WINDOW_SAMPLES, description="float32 samples after the header")
    last: bool = False
    text_tokens: int = 0
    speech_tokens: int = 0
    conditioning_cache_hit: bool = False


class FrameError(ValueError):
    """The bytes are not a frame stream (a bug, or a runner of another version)."""


def frame(header: WindowFrame, samples: np.ndarray | None = None) -> bytes:
    payload = b"" if samples is None else np.ascontiguousarray(samples, dtype="<f4").tobytes()
    header = header.model_copy(update={"samples": len(payload) // 4})
    encoded = header.model_dump_json(exclude_defaults=True).encode()
    return _LENGTHS.pack(len(encoded), len(payload)) + encoded + payload


class FrameReader:
    """Cuts a byte stream back into frames, whatever sizes the bytes arrive in; holds at most
    one frame's bytes."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[WindowFrame, np.ndarray]]:
        self._buffer += data
        frames = []
        while len(self._buffer) >= _LENGTHS.size:
            header_bytes, payload_bytes = _LENGTHS.unpack_from(self._buffer)
            if header_bytes > MAX_HEADER_BYTES or payload_bytes > MAX_WINDOW_SAMPLES * 4 or payload_bytes % 4:
                raise FrameError(f"not a window frame (header {header_bytes} bytes, payload {payload_bytes} bytes)")
            end = _LENGTHS.size + header_bytes + payload_bytes
            if len(self._buffer) < end:
                break
            header = WindowFrame.model_validate_json(bytes(self._buffer[_LENGTHS.size : _LENGTHS.size + header_bytes]))
            samples = np.frombuffer(bytes(self._buffer[_LENGTHS.size + header_bytes : end]), dtype="<f4")
            del self._buffer[:end]
            frames.append((header, samples))
        return frames

    @property
    def pending(self) -> int:
        """Bytes of a frame not yet complete (non-zero when a stream ended: it was cut)."""
        return len(self._buffer)
