"""The Python SDK and CLI (`clients/python`) against the served local stack: speech whole and
streamed, downloads resumed with Range, the voice library with the ETag handled for the
caller (a real 412 from a concurrent edit), typed errors, the async client, the CLI; its
models are what the generator makes of docs/openapi.yaml, so they cannot drift."""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
import zipfile
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
import soundfile as sf
from chatterbox_client import AsyncClient, BadRequestError, Client, NotFoundError, ServiceUnavailableError, models
from chatterbox_client.cli import main as cli

from api.uploads import decode_upload
from contract.paging import Paged, PageRequest, Total
from harness.processes import wait_until
from harness.stacks import RunningService
from harness.testdata import read_testdata
from scripts.generate_client_models import MODELS, generated
from voices.metadata import VoiceMetadataPatch
from voices.prepared_audio import prepare

VOICE = "sdk-voice"


@pytest.fixture(scope="module")
def client(local_stack: RunningService) -> Iterator[Client]:
    key = local_stack.headers.get("Authorization", "").removeprefix("Bearer ") or None
    with Client(local_stack.base_url, api_key=key) as sdk:
        sdk.upload_voice(read_testdata("voice_alex.wav"), name=VOICE, overwrite=True, folder="sdk", tags=["english", "test"])
        yield sdk


def seconds_of(data: bytes) -> float:
    info = sf.info(io.BytesIO(data))
    return info.frames / info.samplerate


def test_the_models_are_the_openapi_documents() -> None:
    assert MODELS.read_text() == generated(), "run scripts/generate_client_models.py after scripts/export_openapi.py"


def test_speech_whole_streamed_and_downloaded_with_resume(client: Client, local_stack: RunningService, tmp_path: Path) -> None:
    result = client.speak("Hello from the SDK.", voice=VOICE, seed=7, output_format="wav")
    assert isinstance(result, models.OutputResponse) and result.metadata.voice == VOICE and result.metadata.parameters["seed"] == 7
    whole = local_stack.client.get(result.url).content
    partial = tmp_path / "resumed.wav"
    partial.write_bytes(whole[: len(whole) // 3])  # an interrupted download
    assert client.download_output(result.filename, partial).read_bytes() == whole
    assert client.download_output(result.filename, partial).read_bytes() == whole  # complete already: nothing appended

    with client.stream_speech("A first sentence. The zebrafinch sings second.", voice=VOICE, seed=7) as response:
        blocks = [block for block in response.iter_bytes() if block]
        streamed_name = response.headers["x-output-filename"]
    assert len(blocks) >= 2 and seconds_of(b"".join(blocks)) > 0.5
    found = wait_until(lambda: [output.filename for output in client.iter_outputs(page_size=1, search="zebrafinch")], 60, "the streamed output stored")
    assert found == [streamed_name]  # pages of one, fetched as the loop goes (stored once the stream ended)


def test_the_library_with_etags_handled_and_typed_errors(client: Client, local_stack: RunningService) -> None:
    listed = list(client.iter_voices(page_size=1, folder="sdk"))
    assert [voice.name for voice in listed] == [VOICE] and listed[0].tags == ["english", "test"]

    class EditsFirst(httpx.HTTPTransport):
        """Someone else edits the voice between the SDK's read and its first write: a real 412."""

        edited = False

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.method == "PUT" and not self.edited:
                self.edited = True
                assert local_stack.client.put(f"/api/v1/voice/{VOICE}/metadata", json={"description": "edited elsewhere"}).status_code == 200
            return super().handle_request(request)

    transport = EditsFirst()
    with Client(local_stack.base_url, api_key=client.settings.api_key, transport=transport) as racing:
        updated = racing.update_voice(VOICE, display_name="SDK voice")
    assert transport.edited and updated.voice.display_name == "SDK voice" and updated.voice.description == "edited elsewhere"  # neither edit lost

    preview = client.delete_voice(VOICE, dry_run=True)
    assert isinstance(preview, models.DeletionPreview) and preview.would_delete == [VOICE]
    with pytest.raises(NotFoundError) as missing:
        client.voice("no-such-voice")
    assert missing.value.status == 404 and missing.value.request_id
    with pytest.raises(BadRequestError) as refused:
        client.speak("Ha [giggle].", voice=VOICE, model="turbo")
    assert refused.value.field == "text" and "unknown tag [giggle]" in refused.value.message


def test_jobs_followed_to_the_end_and_the_library_exported_and_imported(client: Client, tmp_path: Path) -> None:
    spoken = client.speak("Joined.", voice=VOICE, seed=2)
    updates: list[models.JobResponse] = []
    joined = client.concat([{"silence_ms": 20_000}, {"output": spoken.filename}, {"silence_ms": 12_000}], sample_rate=8000, progress=updates.append, poll_seconds=0.2)
    assert isinstance(joined, models.OutputResponse) and joined.metadata.type == "concat" and joined.metadata.duration_seconds > 32
    assert updates[0].status in ("queued", "running", "succeeded") and updates[-1].status == "succeeded" and updates[-1].progress.percent == 100.0

    archive = client.export_voices(tmp_path / "voices.zip", folder="sdk")
    restored = client.import_voices(archive, on_conflict="skip")
    assert [(result.name, result.status) for result in restored.results] == [(VOICE, "skipped")]  # it is still there
    bulk = client.upload_voices([read_testdata("voice_bella.wav"), b"not audio"], folder="sdk-bulk", overwrite=True)
    assert (bulk.created + bulk.replaced, bulk.failed) == (1, 1) and bulk.results[1].error


def test_busy_answers_are_retried_as_retry_after_says() -> None:
    answers = iter([httpx.Response(503, headers={"Retry-After": "0"}, json={"error": {"type": "model_unavailable", "message": "starting"}}),
                    httpx.Response(429, headers={"Retry-After": "0"}, json={"error": {"type": "rate_limit_exceeded", "message": "busy"}}),
                    httpx.Response(200, json={"object": "list", "data": []})])
    with Client("http://sdk.test", max_retries=2, transport=httpx.MockTransport(lambda request: next(answers))) as patient:
        assert patient.models().data == []
    always_busy = httpx.MockTransport(lambda request: httpx.Response(503, headers={"Retry-After": "0"}, json={"error": {"type": "model_unavailable", "message": "starting"}}))
    with Client("http://sdk.test", max_retries=1, transport=always_busy) as impatient, pytest.raises(ServiceUnavailableError, match="starting"):
        impatient.models()


def test_the_async_client_does_the_same(client: Client, local_stack: RunningService, tmp_path: Path) -> None:
    async def scenario() -> tuple[models.HealthResponse, models.OutputResponse, list[str], int]:
        async with AsyncClient(local_stack.base_url, api_key=client.settings.api_key) as sdk:
            health, spoken = await asyncio.gather(sdk.health(), sdk.speak("Asynchronously.", voice=VOICE, seed=3))
            names = [voice.name async for voice in sdk.iter_voices(folder="sdk")]
            async with sdk.stream_speech("Streamed too.", voice=VOICE, seed=3) as response:  # a seed: an unseeded random model may stop at once
                size = len(await response.aread())
            (tmp_path / "async.wav").write_bytes(b"RIFF")  # a download cut after four bytes
            await asyncio.gather(sdk.download_output(spoken.filename, tmp_path / "async.wav"), sdk.export_voices(tmp_path / "async.zip", folder="sdk"))
            return health, spoken, names, size

    health, spoken, names, size = asyncio.run(scenario())
    assert health.status == "ok" and "turbo" in health.models and spoken.metadata.voice == VOICE and names == [VOICE] and size > 1000
    assert (tmp_path / "async.wav").read_bytes() == local_stack.client.get(spoken.url).content
    assert zipfile.ZipFile(tmp_path / "async.zip").namelist()


def test_the_cli_speaks_lists_and_reports_refusals(client: Client, local_stack: RunningService, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    server = ["--url", local_stack.base_url] + (["--api-key", client.settings.api_key] if client.settings.api_key else [])
    cli([*server, "speak", "Hello from the shell.", "--voice", VOICE, "--format", "mp3", "-o", str(tmp_path / "hello.mp3")])
    spoken = capsys.readouterr().out.strip()
    assert spoken.endswith(".mp3") and seconds_of((tmp_path / "hello.mp3").read_bytes()) > 0.3
    cli([*server, "voices", "ls", "--folder", "sdk"])
    assert capsys.readouterr().out.startswith(f"{VOICE}\tsdk\tenglish,test\t")
    cli([*server, "convert", spoken, "--voice", VOICE, "-o", str(tmp_path / "converted.wav")])
    converted = capsys.readouterr().out.strip()
    assert converted.startswith("vc_") and seconds_of((tmp_path / "converted.wav").read_bytes()) > 0.3
    cli([*server, "concat", spoken, converted, "--pause-ms", "500", "--format", "wav", "-o", str(tmp_path / "joined.wav")])
    assert capsys.readouterr().out.strip().startswith("concat_")
    parts = seconds_of((tmp_path / "hello.mp3").read_bytes()) + seconds_of((tmp_path / "converted.wav").read_bytes())
    assert abs(seconds_of((tmp_path / "joined.wav").read_bytes()) - (parts + 0.5)) < 0.1
    cli([*server, "voices", "export", str(tmp_path / "backup.zip"), "--folder", "sdk"])
    cli([*server, "voices", "import", capsys.readouterr().out.strip(), "--on-conflict", "skip"])
    assert capsys.readouterr().out.startswith(f"{VOICE}\tskipped")
    with pytest.raises(SystemExit, match=r"language .* \(field: language\)"):
        cli([*server, "speak", "Bonjour.", "--model", "turbo", "--language", "fr"])

def test_the_package_installs_and_leaves_nothing_untracked_in_the_clone(tmp_path: Path) -> None:
    """`pip install ./clients/python` builds in place (setuptools' build/ and egg-info):
    what it leaves is ignored by git, so a clone stays clean."""
    package = Path(MODELS).parents[1]
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--quiet", "--target", str(tmp_path / "site"), str(package)], capture_output=True, text=True
    )
    assert installed.returncode == 0, installed.stderr
    assert (tmp_path / "site" / "chatterbox_client" / "client.py").is_file()
    untracked = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", "--", "."], cwd=package, capture_output=True, text=True, check=True).stdout
    assert [line for line in untracked.splitlines() if line.startswith("??")] == []


def test_iterating_goes_on_past_a_total_counted_only_up_to_its_cap() -> None:
    """A listing whose total stopped at its cap (`total_exact` false) says `pages` too few:
    the iterators go on while pages come back full. Served by the API's own paging model."""
    prepared = prepare(decode_upload(read_testdata("voice_alex.wav"), "a.wav", "file", sample_rate=24_000, min_seconds=1, max_seconds=300))
    voices = [prepared.metadata(f"voice-{n}", VoiceMetadataPatch(), None, datetime.now(timezone.utc)).model_dump(mode="json") for n in range(7)]
    cap = 3

    def listing(request: httpx.Request) -> httpx.Response:
        asked = PageRequest(page=int(request.url.params["page"]), page_size=int(request.url.params["page_size"]))
        items = asked.window(voices)
        return httpx.Response(200, json=Paged.of(items, Total(max(cap, asked.start + len(items)), exact=False), asked).model_dump(mode="json"))

    with Client("http://chatterbox.test", transport=httpx.MockTransport(listing)) as sdk:
        assert sdk.voices(page=1, page_size=2).pages == 2  # the listing alone would stop at page 2
        assert [voice.name for voice in sdk.iter_voices(page_size=2)] == [voice["name"] for voice in voices]


def test_live_speech_sends_pieces_and_reads_audio_and_sentences(client: Client, local_stack: RunningService) -> None:
    """`speak_live`: text in pieces cut inside words (sent from the SDK's own thread), audio
    and typed events back, the stored output's bytes equal to what was heard; a refused start
    is the typed exception naming the field."""
    heard = bytearray()
    events: list = []
    with client.speak_live(voice=VOICE, model="turbo", response_format="pcm", seed=5) as live:
        assert live.started.sample_rate == 24_000
        for item in live.speak(["Good mor", "ning. How", " are you?"]):
            heard += item if isinstance(item, bytes) else b""
            events += [] if isinstance(item, bytes) else [item]
    sentences = [event for event in events if isinstance(event, models.SentenceEvent)]
    done = events[-1]
    assert [sentence.text for sentence in sentences] == ["Good morning.", "How are you?"] and isinstance(done, models.DoneEvent)
    assert done.duration == pytest.approx(len(heard) / 2 / 24_000, abs=0.002) and sentences[-1].end == pytest.approx(done.duration, abs=0.002)
    assert local_stack.client.get(f"/api/v1/outputs/{done.output}").content == bytes(heard)
    client.delete_output(done.output)
    with pytest.raises(BadRequestError) as refused:
        client.speak_live(voice=VOICE, model="turbo", exaggeration=0.7)
    assert refused.value.field == "exaggeration"


def test_async_live_speech_takes_an_async_token_stream_and_can_cancel(local_stack: RunningService) -> None:
    """`AsyncClient.speak_live`: pieces from an async generator (as an LLM client yields
    them); a cancel after the first audio, then more text, then the end."""
    key = local_stack.headers.get("Authorization", "").removeprefix("Bearer ") or None

    async def tokens() -> AsyncIterator[str]:
        for piece in ["One, two", ", three. Fo", "ur, five."]:
            yield piece

    async def scenario() -> tuple[list, list]:
        async with AsyncClient(local_stack.base_url, api_key=key) as sdk:
            async with await sdk.speak_live(voice=VOICE, model="turbo", store=False) as live:
                spoken = [item async for item in live.speak(tokens()) if not isinstance(item, bytes)]
            async with await sdk.speak_live(voice=VOICE, model="turbo", store=False) as live:
                await live.send_text("This sentence is cut short. ")
                await live.send_text("And so is this one. Then")
                cut: list = []
                async for item in live:
                    if isinstance(item, bytes) and not cut:
                        await live.cancel()
                        cut.append("audio")
                    elif isinstance(item, models.CancelledEvent):
                        cut.append(item)
                        await live.send_text("A new start.")
                        await live.end()
                    elif not isinstance(item, bytes):
                        cut.append(item)
        return spoken, cut

    spoken, cut = asyncio.run(scenario())
    assert [event.text for event in spoken if isinstance(event, models.SentenceEvent)] == ["One, two, three.", "Four, five."]
    cancelled = next(event for event in cut if isinstance(event, models.CancelledEvent))
    assert cancelled.dropped_sentences >= 1 and cut[-1].type == "done"
    assert [event.text for event in cut if isinstance(event, models.SentenceEvent)][-1] == "A new start."
