"""`Client` and `AsyncClient`: the same operations, sent with httpx's sync or async client.

Every operation is written once (`_Operations`, as flows of calls: `_calls.py`); the two
classes only send. Both retry 429 and 503 answers (honouring `Retry-After`) and dropped
connections up to `max_retries` times, take the API key from the argument or
`CHATTERBOX_API_KEY`, and raise the typed exceptions of `errors.py`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import IO, Any

import httpx

from chatterbox_client import models
from chatterbox_client._calls import Call, Flow, Settings, Wait, attempts, finished, model_of, single, target_of, wait_before_retry, without_none
from chatterbox_client.errors import ChatterboxError, ConflictError, ServerError
from chatterbox_client.realtime import AsyncLiveSpeech, LiveSpeech, live_start, open_async_live_speech, open_live_speech

FileInput = str | Path | bytes | IO[bytes]
JobProgress = Callable[[models.JobResponse], None]
JOB_ENDS = ("succeeded", "failed", "cancelled")
ETAG_ATTEMPTS = 3  # a voice changed by someone else between our read and our write: read again


def _file(source: FileInput, default_name: str) -> tuple[str, Any]:
    if isinstance(source, (str, Path)):
        path = Path(source)
        return path.name, path.read_bytes()
    if isinstance(source, bytes):
        return default_name, source
    return Path(getattr(source, "name", default_name)).name, source


def _pages_follow(listing: models.VoiceListResponse | models.OutputListResponse) -> bool:
    """Whether a page follows this one: by `pages`, or, when the total was only counted up to
    its cap (`total_exact` false), as long as pages come back full."""
    return listing.page < listing.pages or (not listing.total_exact and len(listing.items) == listing.page_size)


def _listing_params(page: int, page_size: int, filters: dict[str, Any]) -> dict[str, Any]:
    return without_none({"page": page, "page_size": page_size, **filters})


class _Operations:
    """The API's operations; `_run` sends a flow (sync: returns its value; async: a coroutine)."""

    def _run(self, flow: Flow[Any]) -> Any:
        raise NotImplementedError

    def health(self) -> models.HealthResponse:
        """Each part's readiness, the enabled models and their tags (a 503 answer is returned too)."""
        return self._run(single(Call("GET", "/api/v1/health", accept=(503,)), model_of(models.HealthResponse)))

    def models(self) -> models.ModelList:
        """The OpenAI model names this server serves."""
        return self._run(single(Call("GET", "/v1/models"), model_of(models.ModelList)))

    def speak(self, text: str, *, voice: str | None = None, model: str | None = None, **parameters: Any) -> models.OutputResponse:
        """Generate and store speech; the answer names the stored output (`filename`, `url`).
        `parameters`: any other field of `TTSRequest` (language, exaggeration, seed, ...)."""
        body = models.TTSRequest(text=text, voice=voice, model=model, **parameters).model_dump(mode="json", exclude_none=True)
        return self._run(single(Call("POST", "/api/v1/tts", json=body | {"response_mode": "url"}), model_of(models.OutputResponse)))

    def convert(self, source: FileInput | None = None, *, target_voice: str, source_output: str | None = None, **form: Any) -> models.OutputResponse:
        """Voice conversion of an uploaded file, or of a stored output (`source_output`), to a library voice."""
        files = {"input_audio": _file(source, "source.wav")} if source is not None else None
        data = without_none({"target_voice": target_voice, "input_filename": source_output, "response_mode": "url", **form})
        return self._run(single(Call("POST", "/api/v1/vc", data=data, files=files), model_of(models.OutputResponse)))

    def voice(self, name: str) -> models.VoiceResponse:
        return self._run(single(Call("GET", f"/api/v1/voice/{name}"), model_of(models.VoiceResponse)))

    def voices(self, *, page: int = 1, page_size: int = 50, **filters: Any) -> models.VoiceListResponse:
        """One page of the library; `filters`: search, folder, tags, names, sort, order..."""
        return self._run(single(Call("GET", "/api/v1/voices", params=_listing_params(page, page_size, filters)), model_of(models.VoiceListResponse)))

    def upload_voice(self, audio: FileInput, *, name: str | None = None, overwrite: bool = False, **metadata: Any) -> models.VoiceResponse:
        """Add a voice (name: the file's, unless given); `metadata`: folder, tags, display_name, ..."""
        filename, content = _file(audio, "voice.wav")
        data = without_none({"name": name, "overwrite": str(overwrite).lower(), **{key: ",".join(value) if isinstance(value, list) else value for key, value in metadata.items()}})
        return self._run(single(Call("POST", "/api/v1/voice", data=data, files={"file": (filename, content)}), model_of(models.VoiceResponse)))

    def upload_voices(self, files: list[FileInput], *, folder: str | None = None, tags: list[str] | None = None, overwrite: bool = False) -> models.BulkVoiceResponse:
        """Many voices in one request, one result per file (a bad file fails alone)."""
        parts = [("files", _file(source, f"voice-{index}.wav")) for index, source in enumerate(files)]
        data = without_none({"folder": folder, "tags": ",".join(tags) if tags else None, "overwrite": str(overwrite).lower()})
        return self._run(single(Call("POST", "/api/v1/voices/bulk", data=data, files=parts), model_of(models.BulkVoiceResponse)))

    def import_voices(self, archive: FileInput, *, on_conflict: str = "skip") -> models.ImportResponse:
        """Restore an export (`export_voices`); `on_conflict`: skip, overwrite or rename."""
        files = {"archive": _file(archive, "voices.zip")}
        return self._run(single(Call("POST", "/api/v1/voices/import", data={"on_conflict": on_conflict}, files=files), model_of(models.ImportResponse)))

    def update_voice(self, name: str, **changes: Any) -> models.VoiceResponse:
        """Change a voice's metadata (rename and move too). The ETag is handled here: the
        voice is read, then written only if unchanged since, read again if it was."""
        return self._run(self._update_voice(name, models.VoiceMetadataPatch(**changes).model_dump(mode="json", exclude_unset=True)))

    def _update_voice(self, name: str, patch: dict[str, Any]) -> Flow[models.VoiceResponse]:
        for _ in range(ETAG_ATTEMPTS):
            current = yield Call("GET", f"/api/v1/voice/{name}")
            written = yield Call("PUT", f"/api/v1/voice/{name}/metadata", json=patch, headers={"If-Match": current.headers["etag"]}, accept=(412,))
            if written.status_code != 412:
                return models.VoiceResponse.model_validate(written.json())
        raise ConflictError(f"voice {name!r} kept changing while it was updated", status=412, error_type="precondition_failed")

    def delete_voice(self, name: str, *, dry_run: bool = False) -> models.DeletedVoices | models.DeletionPreview:
        """Delete a voice; with `dry_run`, only what would be deleted."""

        kind = models.DeletionPreview if dry_run else models.DeletedVoices  # without confirm the server answers 400 with the list
        call = Call("DELETE", f"/api/v1/voice/{name}", params={"confirm": str(not dry_run).lower()}, accept=(400,) if dry_run else ())
        return self._run(single(call, model_of(kind)))

    def outputs(self, *, page: int = 1, page_size: int = 50, **filters: Any) -> models.OutputListResponse:
        """One page of stored outputs; `filters`: search, type, voice, sort, order..."""
        return self._run(single(Call("GET", "/api/v1/outputs", params=_listing_params(page, page_size, filters)), model_of(models.OutputListResponse)))

    def download_output(self, filename: str, path: str | Path) -> Path:
        """Save a stored output to `path` as it streams; a partial file there is resumed
        with a Range request."""
        path = Path(path)
        have = path.stat().st_size if path.exists() else 0
        call = Call("GET", f"/api/v1/outputs/{filename}", headers={"Range": f"bytes={have}-"} if have else {}, accept=(416,), save_to=path)
        return self._run(single(call, lambda _: path))

    def export_voices(self, path: str | Path, **filters: Any) -> Path:
        """Save a zip of the selected voices (all by default) to `path`, as it streams."""
        path = Path(path)
        return self._run(single(Call("GET", "/api/v1/voices/export", params=without_none(filters), save_to=path), lambda _: path))

    def delete_output(self, filename: str) -> models.DeletedOutput:
        return self._run(single(Call("DELETE", f"/api/v1/outputs/{filename}"), model_of(models.DeletedOutput)))

    def job(self, job_id: str) -> models.JobResponse:
        return self._run(single(Call("GET", f"/api/v1/jobs/{job_id}"), model_of(models.JobResponse)))

    def cancel_job(self, job_id: str) -> models.JobResponse:
        return self._run(single(Call("DELETE", f"/api/v1/jobs/{job_id}"), model_of(models.JobResponse)))

    def concat(self, inputs: list[dict[str, Any]], *, wait: bool = True, progress: JobProgress | None = None, poll_seconds: float = 1.0, **options: Any) -> models.OutputResponse | models.JobResponse:
        """Join stored outputs, voices and silences (`inputs`, as `ConcatRequest` takes them)
        into one output. A long one runs as a background job: with `wait`, it is followed
        until it ends (`progress` gets each poll's job, with percent and ETA) and its output
        returned; without, the job is returned at once."""
        body = models.ConcatRequest(inputs=inputs, **options).model_dump(mode="json", exclude_none=True) | {"response_mode": "url"}
        return self._run(self._concat(body, wait, progress, poll_seconds))

    def _concat(self, body: dict[str, Any], wait: bool, progress: JobProgress | None, poll_seconds: float) -> Flow[models.OutputResponse | models.JobResponse]:
        answer = yield Call("POST", "/api/v1/concat", json=body)
        if answer.status_code != 202:
            return models.OutputResponse.model_validate(answer.json())
        job = models.JobResponse.model_validate(answer.json())
        while wait:
            if progress is not None:
                progress(job)
            if job.status in JOB_ENDS:
                break
            yield Wait(poll_seconds)
            job = models.JobResponse.model_validate((yield Call("GET", f"/api/v1/jobs/{job.id}")).json())
        if not wait:
            return job
        if job.status == "succeeded" and job.result is not None:
            return job.result
        message = job.error.message if job.error else f"the job ended {job.status}"
        raise (ServerError if job.status == "failed" else ChatterboxError)(message, error_type=job.error.type if job.error else job.status)


class Client(_Operations):
    """A synchronous client. Use as a context manager, or call `close()`."""

    def __init__(self, base_url: str | None = None, *, api_key: str | None = None, max_retries: int = 3, timeout: float | httpx.Timeout | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.settings = Settings.of(base_url, api_key, max_retries, timeout)
        self._http = httpx.Client(base_url=self.settings.base_url, headers=self.settings.headers, timeout=self.settings.timeout, transport=transport)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, call: Call, *, stream: bool = False) -> httpx.Response:
        for attempt in attempts(self.settings.max_retries):
            outcome: httpx.Response | httpx.TransportError
            try:
                outcome = self._http.send(self._http.build_request(**call.request), stream=stream)
            except httpx.TransportError as exc:
                outcome = exc
            if (delay := wait_before_retry(outcome, attempt, self.settings.max_retries)) is None:
                if isinstance(outcome, httpx.Response) and stream and outcome.is_error:
                    outcome.read()
                return finished(outcome, call)
            if isinstance(outcome, httpx.Response):
                outcome.close()
            time.sleep(delay)
        raise AssertionError("attempts() ends with a final answer")

    def _run(self, flow: Flow[Any]) -> Any:
        try:
            step = next(flow)
            while True:
                if isinstance(step, Wait):
                    time.sleep(step.seconds)
                    step = flow.send(None)
                else:
                    step = flow.send(self._save(step) if step.save_to else self._send(step))
        except StopIteration as done:
            return done.value

    def _save(self, call: Call) -> httpx.Response:
        response = self._send(call, stream=True)
        try:
            if (file := target_of(call, response)) is not None:
                with file:
                    for block in response.iter_bytes():
                        file.write(block)
        finally:
            response.close()
        return response

    @staticmethod
    def _every_page(fetch: Any, page_size: int, filters: dict[str, Any]) -> Iterator[Any]:
        page, more = 1, True
        while more:
            listing = fetch(page=page, page_size=page_size, **filters)
            yield from listing.items
            page, more = page + 1, _pages_follow(listing)

    def iter_voices(self, *, page_size: int = 100, **filters: Any) -> Iterator[models.VoiceMetadata]:
        """Every voice the filters select, fetched page by page as the loop goes."""
        return self._every_page(self.voices, page_size, filters)

    def iter_outputs(self, *, page_size: int = 100, **filters: Any) -> Iterator[models.OutputMetadata]:
        """Every output the filters select, fetched page by page as the loop goes."""
        return self._every_page(self.outputs, page_size, filters)

    def speak_live(self, *, voice: str | None = None, model: str | None = None, response_format: str = "pcm", store: bool = True, **parameters: Any) -> LiveSpeech:
        """A WebSocket session that speaks text sent in pieces as soon as each sentence ends
        (`chatterbox_client.realtime`); `parameters`: those of `speak` (`seed`, `language`...)."""
        start = live_start(voice, model, response_format, store, parameters)
        return open_live_speech(self.settings.base_url, self.settings.api_key, start, self.settings.timeout.connect or 30)

    @contextmanager
    def stream_speech(self, text: str, *, voice: str | None = None, model: str | None = None, **parameters: Any) -> Iterator[httpx.Response]:
        """Speech sent while it is generated: iterate `response.iter_bytes()`; the stored
        output's name is `response.headers["x-output-filename"]`."""
        body = models.TTSRequest(text=text, voice=voice, model=model, **parameters).model_dump(mode="json", exclude_none=True)
        response = self._send(Call("POST", "/api/v1/tts", json=body | {"response_mode": "stream", "stream_chunks": True}), stream=True)
        try:
            yield response
        finally:
            response.close()


class AsyncClient(_Operations):
    """An asyncio client: the same operations as `Client`, awaited."""

    def __init__(self, base_url: str | None = None, *, api_key: str | None = None, max_retries: int = 3, timeout: float | httpx.Timeout | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = Settings.of(base_url, api_key, max_retries, timeout)
        self._http = httpx.AsyncClient(base_url=self.settings.base_url, headers=self.settings.headers, timeout=self.settings.timeout, transport=transport)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def _send(self, call: Call, *, stream: bool = False) -> httpx.Response:
        for attempt in attempts(self.settings.max_retries):
            outcome: httpx.Response | httpx.TransportError
            try:
                outcome = await self._http.send(self._http.build_request(**call.request), stream=stream)
            except httpx.TransportError as exc:
                outcome = exc
            if (delay := wait_before_retry(outcome, attempt, self.settings.max_retries)) is None:
                if isinstance(outcome, httpx.Response) and stream and outcome.is_error:
                    await outcome.aread()
                return finished(outcome, call)
            if isinstance(outcome, httpx.Response):
                await outcome.aclose()
            await asyncio.sleep(delay)
        raise AssertionError("attempts() ends with a final answer")

    async def _run(self, flow: Flow[Any]) -> Any:  # type: ignore[override]
        try:
            step = next(flow)
            while True:
                if isinstance(step, Wait):
                    await asyncio.sleep(step.seconds)
                    step = flow.send(None)
                else:
                    step = flow.send(await (self._save(step) if step.save_to else self._send(step)))
        except StopIteration as done:
            return done.value

    async def _save(self, call: Call) -> httpx.Response:
        response = await self._send(call, stream=True)
        try:
            if (file := target_of(call, response)) is not None:
                with file:
                    async for block in response.aiter_bytes():
                        file.write(block)
        finally:
            await response.aclose()
        return response

    @staticmethod
    async def _every_page(fetch: Any, page_size: int, filters: dict[str, Any]) -> AsyncIterator[Any]:
        page, more = 1, True
        while more:
            listing = await fetch(page=page, page_size=page_size, **filters)
            for item in listing.items:
                yield item
            page, more = page + 1, _pages_follow(listing)

    def iter_voices(self, *, page_size: int = 100, **filters: Any) -> AsyncIterator[models.VoiceMetadata]:
        return self._every_page(self.voices, page_size, filters)

    def iter_outputs(self, *, page_size: int = 100, **filters: Any) -> AsyncIterator[models.OutputMetadata]:
        return self._every_page(self.outputs, page_size, filters)

    async def speak_live(self, *, voice: str | None = None, model: str | None = None, response_format: str = "pcm", store: bool = True, **parameters: Any) -> AsyncLiveSpeech:
        """`Client.speak_live` for asyncio."""
        start = live_start(voice, model, response_format, store, parameters)
        return await open_async_live_speech(self.settings.base_url, self.settings.api_key, start, self.settings.timeout.connect or 30)

    @asynccontextmanager
    async def stream_speech(self, text: str, *, voice: str | None = None, model: str | None = None, **parameters: Any) -> AsyncIterator[httpx.Response]:
        """As `Client.stream_speech`: iterate `response.aiter_bytes()`."""
        body = models.TTSRequest(text=text, voice=voice, model=model, **parameters).model_dump(mode="json", exclude_none=True)
        response = await self._send(Call("POST", "/api/v1/tts", json=body | {"response_mode": "stream", "stream_chunks": True}), stream=True)
        try:
            yield response
        finally:
            await response.aclose()

