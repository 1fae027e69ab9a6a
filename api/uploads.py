"""Reading uploaded audio safely: bounded in size, in duration and in decoding time.

The body limit (`api.body_limits`) has already capped the request while it arrived, and
Starlette spooled each part to an anonymous temp file that is closed when the request
ends. One upload at a time is then read (at most `max_upload_bytes`) and decoded through
`audio.decoding`'s allow-lists, refused early when it declares more audio than the route takes.
"""

from __future__ import annotations

from fastapi import UploadFile
from starlette.concurrency import run_in_threadpool

from api.errors import APIError
from audio.decoding import AudioDecodeError, AudioTooLongError, DecodedAudio, UploadedAudio, decode


async def read_upload(file: UploadFile, field: str, max_bytes: int) -> bytes:
    data = await file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise APIError(413, f"{field} is larger than the {max_bytes // (1 << 20)} MiB limit; upload a shorter or compressed file", field=field, error_type="payload_too_large")
    if not data:
        raise APIError(400, f"{field} is empty; upload an audio file", field=field)
    return data


async def read_audio_upload(
    file: UploadFile, field: str, *, max_bytes: int, sample_rate: int, min_seconds: float, max_seconds: float
) -> UploadedAudio:
    """The upload decoded to mono at `sample_rate`, or a 4xx naming `field` and the fix."""
    data = await read_upload(file, field, max_bytes)
    return await run_in_threadpool(decode_upload, data, file.filename, field, sample_rate=sample_rate, min_seconds=min_seconds, max_seconds=max_seconds)


def decode_upload(data: bytes, filename: str | None, field: str, *, sample_rate: int, min_seconds: float, max_seconds: float) -> UploadedAudio:
    """Uploaded bytes (a file, or a member of an uploaded zip) decoded and checked."""
    try:
        audio = decode(data, sample_rate, max_seconds=max_seconds)
    except AudioTooLongError as exc:
        raise APIError(400, f"{field}: {exc}; upload a shorter recording", field=field) from None
    except AudioDecodeError as exc:
        raise APIError(400, f"{field}: {exc}; send wav, mp3, flac, ogg/opus or m4a", field=field) from None
    check_duration(audio, field, min_seconds=min_seconds, max_seconds=max_seconds)
    return UploadedAudio(data, filename, audio)


def check_duration(audio: DecodedAudio, field: str, *, min_seconds: float, max_seconds: float) -> None:
    seconds = audio.duration_seconds
    if seconds < min_seconds:
        raise APIError(400, f"{field} is {seconds:.2f} s long; it must be at least {min_seconds:g} s", field=field)
    if seconds > max_seconds:
        raise APIError(400, f"{field} is {seconds:.1f} s long; it must be at most {max_seconds:g} s", field=field)
    if float(abs(audio.samples).max()) < 1e-4:
        raise APIError(400, f"{field} is silent; upload a recording with speech", field=field)
