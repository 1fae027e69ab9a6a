"""The web studio (`/studio`), used as a person uses it: in headless Chromium (Debian's, driven
by Selenium), against the served stack with random weights. Keys on (the local stack) and
off (the S3 stack). Every expectation about an error compares the page with what the API
itself answers for the same input, so the tests check the page shows the API's message,
next to the field it names, without hard-coding the message.

Screenshots of every tab at desktop and phone width are written to STUDIO_SCREENSHOTS
(docs/img/studio refreshes the documentation's pictures), else to a temporary folder."""

from __future__ import annotations

import io
import re
import time
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import nullcontext
from html.parser import HTMLParser
from pathlib import Path

import pytest
import soundfile
from fastapi import FastAPI
from fastapi.testclient import TestClient
from selenium.webdriver.common.keys import Keys

from api.studio import SECURITY_HEADERS, STUDIO_DIR
from api.studio import install as install_studio
from config.settings import StudioSettings
from harness.processes import ROOT
from harness.stacks import API_KEYS, CONCAT_SYNC_MAX_SECONDS, RunningService
from harness.testdata import read_testdata
from tests.studio_page import Studio, chromium_driver, screenshot_folder

KEY = API_KEYS[0]
TABS = ("speak", "voices", "outputs", "join", "convert")
VIEWS = ("desktop", "phone")
TEXT = "Hello from the studio. This is the second sentence. And here comes a third one. The fourth ends it."


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def studio(local_stack: RunningService, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    """The browser on the local stack (keys on). The stack is shared: whatever the studio
    made there is deleted afterwards."""
    outputs_before = set(outputs_of(local_stack))
    driver = chromium_driver()
    page = Studio(driver, local_stack.base_url, screenshot_folder(tmp_path_factory.mktemp("studio-screenshots")))
    try:
        yield page
    finally:
        driver.quit()
        client = local_stack.client
        for filename in set(outputs_of(local_stack)) - outputs_before:
            client.delete(f"/api/v1/outputs/{filename}")
        assert client.delete("/api/v1/voices", params={"search": "studio", "confirm": "true"}).status_code == 200


def outputs_of(stack: RunningService) -> list[str]:
    return [item["filename"] for item in stack.client.get("/api/v1/outputs", params={"page_size": 200}).json()["items"]]


@pytest.fixture(scope="module")
def voice(local_stack: RunningService) -> str:
    """A library voice made through the API (the upload test makes its own in the page)."""
    name = unique("studio-voice")
    response = local_stack.client.post("/api/v1/voice", files={"file": ("bella.wav", read_testdata("voice_bella.wav"))}, data={"name": name})
    assert response.status_code == 201, response.text
    return name


def speak_via_api(stack: RunningService, voice: str, text: str = "A short line.") -> dict:
    response = stack.client.post("/api/v1/tts", json={"text": text, "voice": voice, "seed": 3, "output_format": "wav"})
    assert response.status_code == 200, response.text
    return response.json()["metadata"]


def open_voice_dialog(studio: Studio, voice: str, action: str, dialog: str) -> str:
    """The Voices tab, `voice` found, its `action` button pressed and the `dialog` that opens
    shown; the row's CSS."""
    studio.open(KEY)
    studio.tab("voices")
    studio.search("voice", voice)
    row = studio.row("voice", voice)
    studio.press(f"{row} button[aria-label^='{action}']")
    studio.wait(lambda: studio.find(dialog).is_displayed(), f"{action} did not open {dialog}")
    return row


# --- the page itself ------------------------------------------------------------------------


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value and not value.startswith(("#", "data:"))]


def test_the_page_and_its_assets_are_served_by_the_service_with_a_strict_policy(local_stack: RunningService) -> None:
    client = local_stack.new_client()
    redirect = client.get("/studio", follow_redirects=False)
    assert redirect.status_code == 307 and redirect.headers["location"] == "/studio/"
    page = client.get("/studio/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for name, value in SECURITY_HEADERS.items():
        assert page.headers[name] == value
    parser = _Assets()
    parser.feed(page.text)
    scripts = [path.relative_to(STUDIO_DIR).as_posix() for path in (STUDIO_DIR / "js").glob("*.js")]
    for url in parser.urls + scripts:
        assert not re.match(r"^(https?:)?//", url), f"{url}: the studio must work offline, every asset served by the service"
        asset = client.get(f"/studio/{url}")
        assert asset.status_code == 200, url
    assert "js/app.js" in parser.urls
    for path in STUDIO_DIR.rglob("*.*"):  # no script or style reaches for another origin either
        assert not re.search(r"""["'(](https?:)?//""", path.read_text()), f"{path.name} refers to another origin"


@pytest.mark.parametrize("enabled", [True, False])
def test_the_studio_can_be_turned_off(enabled: bool) -> None:
    app = FastAPI()
    install_studio(app, StudioSettings(enabled=enabled))
    with TestClient(app) as client:
        assert client.get("/studio/").status_code == (200 if enabled else 404)
        assert client.get("/studio/js/app.js").status_code == (200 if enabled else 404)


def test_with_keys_on_the_page_asks_once_per_tab_and_shows_a_refused_key(studio: Studio) -> None:
    studio.driver.get(f"{studio.base_url}/studio/")
    studio.js("sessionStorage.clear()")
    studio.driver.refresh()
    studio.wait(lambda: studio.find("#key-form").is_displayed(), "no key was asked for")
    studio.fill("#api-key", "not-a-key")
    studio.find("#key-form button[type=submit]").click()
    refused = studio.wait(lambda: studio.field_error("#api-key"), "a refused key was not explained")
    api = studio.js("return fetch('/api/v1/voices', {headers: {Authorization: 'Bearer not-a-key'}}).then((r) => r.json())")
    assert refused == api["error"]["message"]
    studio.fill("#api-key", KEY)
    studio.find("#key-form button[type=submit]").click()
    studio.wait_ready()
    assert not studio.find("#key-form").is_displayed()
    assert studio.js("return Object.keys(sessionStorage).length") == 1 and studio.js("return localStorage.length") == 0
    studio.driver.refresh()  # the same tab keeps the key
    studio.wait_ready()
    assert not studio.find("#key-form").is_displayed()
    studio.find("#forget-key").click()
    studio.wait(lambda: studio.find("#key-form").is_displayed(), "forgetting the key did not ask again")
    assert studio.js("return sessionStorage.length") == 0


def test_with_keys_off_the_page_works_without_one(studio: Studio, s3_stack: RunningService) -> None:
    keyless = Studio(studio.driver, s3_stack.base_url, studio.screenshots)
    keyless.open()
    assert not keyless.find("#key-form").is_displayed() and not keyless.find("#forget-key").is_displayed()
    assert "storage: s3" in keyless.find("#health").text
    keyless.tab("voices")
    keyless.wait_text("#voice-caption", "found")


# --- voices ---------------------------------------------------------------------------------


def test_dropped_files_and_a_zip_become_voices_with_a_result_each(studio: Studio, local_stack: RunningService) -> None:
    studio.open(KEY)
    studio.tab("voices")
    good, broken = unique("studio-drop"), unique("studio-broken")
    studio.drop_files("#voice-upload", {f"{good}.wav": read_testdata("voice_alex.wav"), f"{broken}.wav": read_testdata("not_audio.wav")})
    studio.wait(lambda: len(studio.find_all("#voice-upload-results li")) == 2, "no result per dropped file")
    api = local_stack.client.post("/api/v1/voices/bulk", files=[("files", (f"{broken}.wav", read_testdata("not_audio.wav")))]).json()
    failed = studio.find("#voice-upload-results li.failed").text
    assert failed == f"{broken}.wav: {api['results'][0]['error']['message']}"
    record = local_stack.client.get(f"/api/v1/voice/{good}").json()["voice"]
    created = studio.find("#voice-upload-results li.ok").text
    assert good in created and "created" in created and record["quality"]["verdict"] in created

    folder = unique("studio-zip")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr(f"{folder}/studio-one.wav", read_testdata("voice_alex.wav"))
        bundle.writestr(f"{folder}/studio-two.flac", read_testdata("voice_bella.flac"))
    studio.drop_files("#voice-upload", {"voices.zip": archive.getvalue()})
    studio.wait(lambda: len(studio.find_all("#voice-upload-results li.ok")) == 2, "the zip's voices were not listed")
    listed = local_stack.client.get("/api/v1/voices", params={"folder": folder}).json()
    assert sorted(voice["name"] for voice in listed["items"]) == ["studio-one", "studio-two"]
    studio.wait(lambda: folder in studio.find("#voice-folder").text, "the zip's folder is not offered as a filter")

    studio.select("#voice-folder", folder)  # the table follows the filter
    studio.wait(lambda: sorted(row.get_attribute("data-voice") for row in studio.find_all("#voice-table tbody tr[data-voice]")) == ["studio-one", "studio-two"],
                "filtering by folder did not list the zip's voices")


def test_an_upload_refused_as_a_whole_shows_the_apis_error_at_its_field(studio: Studio, local_stack: RunningService) -> None:
    studio.open(KEY)
    studio.tab("voices")
    studio.fill("#voice-upload-folder", "../escape")
    name = unique("studio-refused")
    studio.drop_files("#voice-upload", {f"{name}.wav": read_testdata("voice_alex.wav")})
    shown = studio.wait(lambda: studio.field_error("#voice-upload-folder"), "the API's error is not next to the folder")
    api = local_stack.client.post("/api/v1/voices/bulk", files=[("files", (f"{name}.wav", read_testdata("voice_alex.wav")))], data={"folder": "../escape"}).json()
    assert api["error"]["field"] == "folder" and shown == api["error"]["message"]
    assert local_stack.client.get(f"/api/v1/voice/{name}").status_code == 404


def test_a_voice_shows_its_quality_and_its_reference_plays(studio: Studio, local_stack: RunningService, voice: str) -> None:
    studio.open(KEY)
    studio.tab("voices")
    studio.search("voice", voice)
    row = studio.row("voice", voice)
    record = local_stack.client.get(f"/api/v1/voice/{voice}").json()["voice"]
    assert studio.find(f"{row} .verdict").text == record["quality"]["verdict"]
    assert [item.text for item in studio.find_all(f"{row} .warnings li")] == record["quality"]["warnings"]
    studio.press(f"{row} button[aria-label^='Play']")
    studio.wait_playing("#voice-player")
    reference = local_stack.client.get(f"/api/v1/voice/{voice}/audio", params={"variant": "reference"})
    expected = soundfile.info(io.BytesIO(reference.content)).duration
    assert studio.audio_seconds("#voice-player") == pytest.approx(expected, abs=0.05)


def test_a_stale_edit_is_refused_and_explained_and_a_fresh_one_saves(studio: Studio, local_stack: RunningService, voice: str) -> None:
    row = open_voice_dialog(studio, voice, "Edit", "#voice-editor")
    opened = local_stack.client.get(f"/api/v1/voice/{voice}").headers["ETag"]  # what the editor holds
    elsewhere = local_stack.client.put(f"/api/v1/voice/{voice}/metadata", json={"description": "changed elsewhere"})
    assert elsewhere.status_code == 200
    studio.fill("#edit-description", "my edit")
    studio.find("#voice-edit-form button[type=submit]").click()
    message = studio.wait_text("#voice-edit-form .form-error", "changed by someone else").text
    stale = local_stack.client.put(f"/api/v1/voice/{voice}/metadata", json={"description": "x"}, headers={"If-Match": opened}).json()
    assert stale["error"]["message"] in message
    assert local_stack.client.get(f"/api/v1/voice/{voice}").json()["voice"]["description"] == "changed elsewhere"

    studio.find("#voice-edit-cancel").click()
    studio.press(f"{row} button[aria-label^='Edit']")
    studio.wait(lambda: studio.find("#edit-description").get_attribute("value") == "changed elsewhere", "the editor did not load the current record")
    studio.fill("#edit-tags", "calm, studio")
    studio.fill("#edit-exaggeration", "0.7")
    studio.find("#voice-edit-form button[type=submit]").click()
    studio.wait(lambda: not studio.find("#voice-editor").is_displayed(), "a fresh edit was not saved")
    saved = local_stack.client.get(f"/api/v1/voice/{voice}").json()["voice"]
    assert saved["tags"] == ["calm", "studio"] and saved["defaults"]["exaggeration"] == 0.7 and saved["description"] == "changed elsewhere"


def test_an_out_of_range_default_is_shown_next_to_its_field(studio: Studio, local_stack: RunningService, voice: str) -> None:
    open_voice_dialog(studio, voice, "Edit", "#voice-editor")
    studio.fill("#edit-temperature", "9")
    studio.find("#voice-edit-form button[type=submit]").click()
    shown = studio.wait(lambda: studio.field_error("#edit-temperature"), "the API's error is not next to the field")
    api = local_stack.client.put(f"/api/v1/voice/{voice}/metadata", json={"defaults": {"temperature": 9}}).json()
    assert api["error"]["field"] == "defaults.temperature" and shown == api["error"]["message"]
    studio.find("#voice-edit-cancel").click()


def test_deleting_shows_what_would_go_before_anything_goes(studio: Studio, local_stack: RunningService) -> None:
    doomed = unique("studio-doomed")
    assert local_stack.client.post("/api/v1/voice", files={"file": ("a.wav", read_testdata("voice_alex.wav"))}, data={"name": doomed}).status_code == 201
    open_voice_dialog(studio, doomed, "Delete", "#voice-delete-dialog")  # the dry-run list
    assert [item.text for item in studio.find_all("#voice-delete-list li")] == [doomed]
    assert local_stack.client.get(f"/api/v1/voice/{doomed}").status_code == 200  # nothing gone yet
    studio.find("#voice-delete-confirm").click()
    studio.wait(lambda: local_stack.client.get(f"/api/v1/voice/{doomed}").status_code == 404, "confirming did not delete")
    studio.wait_text("#voice-caption", "0 found")


def test_export_then_import_round_trips_the_selection(studio: Studio, local_stack: RunningService, voice: str, tmp_path: Path) -> None:
    studio.open(KEY)
    studio.driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    studio.tab("voices")
    studio.search("voice", voice)
    studio.find("#voice-export button[type=submit]").click()
    exported = studio.wait(lambda: [path for path in tmp_path.glob("*.zip")], "the export was not downloaded")[0]
    with zipfile.ZipFile(exported) as bundle:
        assert any(name.endswith("manifest.json") for name in bundle.namelist())
    studio.find("#voice-import-archive").send_keys(str(exported))
    studio.select("#voice-import-conflict", "rename")
    studio.find("#voice-import button[type=submit]").click()
    result = studio.wait(lambda: studio.find_all("#voice-import-results li"), "no import result")[0].text
    renamed = re.search(r" as (\S+)", result)
    assert result.startswith(f"{voice}: renamed") and renamed, result
    assert local_stack.client.get(f"/api/v1/voice/{renamed.group(1)}").status_code == 200


# --- speaking, outputs, joining, converting ---------------------------------------------------


def test_the_pickers_follow_what_each_model_can_do(studio: Studio, local_stack: RunningService) -> None:
    studio.open(KEY)
    models = {model["id"]: model["root"] for model in local_stack.client.get("/v1/models").json()["data"]}
    assert [option.get_attribute("value") for option in studio.find_all("#speak-model option")] == list(models)
    health = local_stack.health()["models"]
    for name, root in models.items():
        studio.select("#speak-model", name)
        family = health[root]
        languages = [option.get_attribute("value") for option in studio.find_all("#speak-language option")]
        assert languages == list(family["languages"]) and studio.find("#speak-language").is_enabled() is (len(languages) > 1)
        assert studio.find("#speak-exaggeration").is_enabled() is family["guidance"] and studio.find("#speak-cfg-weight").is_enabled() is family["guidance"]
        assert all(tag in studio.find("#speak-markup").text for tag in family["tags"])
    assert set(models.values()) == {"original", "multilingual", "turbo"}  # each kind of picker was seen


@pytest.mark.parametrize("audio_format", ["mp3", "wav"])  # Media Source Extensions; Web Audio
def test_speak_plays_while_it_streams_and_keeps_the_output(studio: Studio, local_stack: RunningService, voice: str, audio_format: str) -> None:
    studio.open(KEY)
    studio.fill("#speak-input", TEXT)
    assert studio.find("#speak-count").text == f"{len(TEXT)} / 4096 characters"
    studio.fill("#speak-voice", voice)
    studio.select("#speak-format", audio_format)
    studio.fill("#speak-seed", "11")
    studio.js("""window.timeline = {};
        document.querySelector('#speak-audio').addEventListener('studio:streaming', () => { window.timeline.sounding ??= performance.now(); });
        new MutationObserver(() => { if (!document.querySelector('#speak-download').hidden) window.timeline.complete ??= performance.now(); })
          .observe(document.querySelector('#speak-download'), {attributes: true});""")
    studio.find("#speak-form button[type=submit]").click()
    studio.wait(lambda: studio.js("return window.timeline.complete"), "the speech never completed")
    timeline = studio.js("return window.timeline")
    assert timeline.get("sounding") and timeline["sounding"] < timeline["complete"], f"playback did not start before the last byte: {timeline}"
    filename = studio.find("#speak-filename").text
    assert studio.find("#speak-download").get_attribute("download") == filename and filename.endswith(f".{audio_format}")
    seconds = studio.audio_seconds("#speak-audio")
    stored = local_stack.stored_output(filename)
    assert stored["voice"] == voice and stored["parameters"]["seed"] == 11
    assert seconds == pytest.approx(stored["duration_seconds"], abs=0.1)


def test_speak_as_i_type_speaks_each_sentence_once_its_end_is_typed(studio: Studio, local_stack: RunningService, voice: str) -> None:
    """Typed key by key (each keystroke one WebSocket message): the first sentence is spoken,
    and listed with its place in the audio, before Speak is pressed; Speak says the rest and
    the stored output is played."""
    studio.open(KEY)
    studio.fill("#speak-voice", voice)
    studio.select("#speak-model", next(model["id"] for model in local_stack.client.get("/v1/models").json()["data"] if model["root"] == "turbo"))
    studio.find("#speak-live").click()
    studio.js("window.sounding = false; document.addEventListener('studio:live-sound', () => { window.sounding = true; });")
    studio.fill("#speak-input", "Hello there. How are")
    first = studio.wait(lambda: studio.find_all("#speak-sentences li"), "the first sentence was not spoken while typing")
    assert first[0].text.startswith("Hello there.") and studio.js("return window.sounding")
    studio.find("#speak-form button[type=submit]").click()
    studio.wait(lambda: len(studio.find_all("#speak-sentences li")) == 2 and studio.find("#speak-filename").text.startswith("tts_"), "the rest was not spoken")
    filename = studio.find("#speak-filename").text
    stored = local_stack.stored_output(filename)
    assert stored["parameters"]["text"] == "Hello there. How are" and stored["parameters"]["websocket"] is True
    assert studio.audio_seconds("#speak-audio") == pytest.approx(stored["duration_seconds"], abs=0.1)
    assert not studio.console_errors()


def test_speak_shows_the_apis_error_next_to_the_field_it_names(studio: Studio, local_stack: RunningService, voice: str) -> None:
    studio.open(KEY)
    studio.fill("#speak-input", "Too much.")
    studio.fill("#speak-voice", voice)
    studio.fill("#speak-exaggeration", "9")
    studio.find("#speak-form button[type=submit]").click()
    shown = studio.wait(lambda: studio.field_error("#speak-exaggeration"), "the API's error is not next to its field")
    model = studio.find("#speak-model").get_attribute("value")
    api = local_stack.client.post("/v1/audio/speech", json={"model": model, "input": "Too much.", "voice": voice, "exaggeration": 9}).json()
    assert api["error"]["param"] == "exaggeration" and shown == api["error"]["message"]
    assert studio.find("#speak-exaggeration").get_attribute("aria-invalid") == "true"


def test_outputs_are_listed_playable_with_details_and_deletable(studio: Studio, local_stack: RunningService, voice: str) -> None:
    made = speak_via_api(local_stack, voice)
    name = made["filename"]
    studio.open(KEY)
    studio.tab("outputs")
    studio.search("output", name)
    row = studio.row("output", name)
    studio.press(f"{row} button[aria-label^='Play']")
    studio.wait_playing("#output-player")
    assert studio.audio_seconds("#output-player") == pytest.approx(made["duration_seconds"], abs=0.05)
    studio.press(f"{row} button[aria-label^='Details']")
    details = studio.find(f"{row} + tr.details pre")
    assert details.is_displayed() and f'"filename": "{name}"' in details.text
    studio.press(f"{row} button[aria-label^='Delete']")
    assert local_stack.client.head(f"/api/v1/outputs/{name}").status_code == 200  # the first press only asks
    studio.press(f"{row} button[aria-label^='Confirm']")
    studio.wait(lambda: local_stack.client.head(f"/api/v1/outputs/{name}").status_code == 404, "the output was not deleted")
    studio.wait_text("#output-caption", "0 found")


def test_join_two_outputs_and_an_upload_follows_the_job_to_100_percent(studio: Studio, local_stack: RunningService, voice: str, tmp_path: Path) -> None:
    first, second = speak_via_api(local_stack, voice), speak_via_api(local_stack, voice, "Another short line.")
    upload = tmp_path / "outro.flac"
    upload.write_bytes(read_testdata("voice_bella.flac"))
    pause_ms = int(CONCAT_SYNC_MAX_SECONDS * 1000) + 1000  # past the limit for answering at once: a job
    studio.open(KEY)
    studio.tab("outputs")
    for made in (first, second):
        studio.search("output", made["filename"])
        studio.press(f"{studio.row('output', made['filename'])} button[aria-label$='to the join list']")
    studio.tab("join")
    studio.fill("#join-silence", str(pause_ms))
    studio.find("#join-add-silence").click()
    studio.find("#join-list li:nth-child(3) button.up").click()  # the silence between the two outputs
    studio.find("#join-upload").send_keys(str(upload))  # sent as multipart with the request
    assert [item.find_element("css selector", "span").text for item in studio.find_all("#join-list li")] == [
        f"Output {first['filename']}", f"Silence {pause_ms} ms", f"Output {second['filename']}", "Upload outro.flac",
    ]
    studio.js("""window.states = [];
        new MutationObserver(() => window.states.push(document.querySelector('#join-status').textContent))
          .observe(document.querySelector('#join-status'), {childList: true, characterData: true, subtree: true});""")
    studio.find("#join-form button[type=submit]").click()
    studio.wait(lambda: studio.find("#join-result").is_displayed(), "the join never finished")
    states = studio.js("return window.states")
    assert any(state.startswith(("Queued", "Joining")) for state in states), f"no job was followed: {states}"
    assert states[-1] == "Done: 100 %" and studio.js("return document.querySelector('#join-bar').value") == 100
    filename = studio.find("#join-filename").text
    stored = local_stack.stored_output(filename)
    assert stored["type"] == "concat"
    expected = first["duration_seconds"] + pause_ms / 1000 + second["duration_seconds"] + soundfile.info(upload).duration
    assert stored["duration_seconds"] == pytest.approx(expected, abs=0.05)
    assert studio.audio_seconds("#join-audio") == pytest.approx(expected, abs=0.05)


def converted(studio: Studio, stack: RunningService, voice: str) -> dict:
    """Converts what the Convert form holds into `voice`; the stored output's metadata, after
    checking the page plays the result."""
    studio.fill("#convert-voice", voice)
    shown = studio.find("#convert-filename").text
    studio.find("#convert-form button[type=submit]").click()
    studio.wait(lambda: studio.find("#convert-result").is_displayed() and studio.find("#convert-filename").text != shown, "the conversion never finished")
    stored = stack.stored_output(studio.find("#convert-filename").text)
    assert stored["type"] == "vc" and stored["voice"] == voice
    assert studio.audio_seconds("#convert-audio") == pytest.approx(stored["duration_seconds"], abs=0.05)
    return stored


def test_convert_a_microphone_recording_or_a_file_into_a_library_voice(studio: Studio, local_stack: RunningService, voice: str, tmp_path: Path) -> None:
    studio.open(KEY)
    studio.tab("convert")
    studio.find("#convert-record").click()
    studio.wait_text("#convert-recording", "Recording")
    time.sleep(1.5)  # the length of the recording itself (Chromium's fake microphone plays a tone)
    studio.find("#convert-record-stop").click()
    recorded = studio.audio_seconds("#convert-source")
    assert recorded >= 1.0
    assert converted(studio, local_stack, voice)["duration_seconds"] == pytest.approx(recorded, abs=0.1)

    source = tmp_path / "speech.wav"
    source.write_bytes(read_testdata("source_speech_16k.wav"))
    studio.find("#convert-file").send_keys(str(source))  # a chosen file replaces the recording
    assert not studio.find("#convert-source").is_displayed()
    assert converted(studio, local_stack, voice)["duration_seconds"] == pytest.approx(soundfile.info(source).duration, abs=0.1)


# --- for everyone, everywhere -----------------------------------------------------------------


def test_keyboard_labels_phone_width_and_screenshots(studio: Studio, local_stack: RunningService) -> None:
    """Last, so the pages show what the tests above made; the Speak text and a Join list are
    filled in for the pictures."""
    studio.open(KEY)
    studio.fill("#speak-input", TEXT)
    studio.tab("join")
    for filename in outputs_of(local_stack)[:2]:
        studio.fill("#join-output", filename)
        studio.find("#join-add-output").click()
    studio.find("#join-add-silence").click()
    studio.tab("speak")
    studio.find("#tab-speak").send_keys(Keys.ARROW_RIGHT)
    assert studio.js("return document.activeElement.id") == "tab-voices" and studio.find("#voices").is_displayed()
    studio.find("#tab-voices").send_keys(Keys.END)
    assert studio.find("#tab-convert").get_attribute("aria-selected") == "true"
    unlabelled = studio.js("""return [...document.querySelectorAll('input, select, textarea, button, audio')]
        .filter((e) => !(e.labels?.length || e.getAttribute('aria-label') || e.getAttribute('aria-labelledby') || e.textContent.trim()))
        .map((e) => e.outerHTML.slice(0, 80));""")
    assert unlabelled == [], "every control needs a label a screen reader reads"
    for label, view in zip(VIEWS, (nullcontext(), studio.phone()), strict=True):
        with view:
            for tab in TABS:
                studio.tab(tab)
                if tab in ("voices", "outputs"):
                    studio.wait(lambda tab=tab: "found" in studio.find(f"#{tab[:-1]}-caption").text, f"{tab} did not load")
                overflow = studio.js("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
                assert overflow <= 0, f"{tab} scrolls sideways at {label} width"
                studio.screenshot(f"{tab}-{label}")
    assert studio.console_errors() == []


def test_the_documentation_shows_screenshots_these_tests_write() -> None:
    """docs/studio.md and the README show only pictures the test above writes (refreshed with
    STUDIO_SCREENSHOTS=docs/img/studio), and every one of them is there."""
    written = {f"{tab}-{view}.png" for tab in TABS for view in VIEWS}
    for document in (ROOT / "docs" / "studio.md", ROOT / "README.md"):
        shown = set(re.findall(r"img/studio/([\w.-]+\.png)\)", document.read_text()))
        assert shown and shown <= written, f"{document.name} shows {sorted(shown - written)}, which no test writes"
    assert {path.name for path in (ROOT / "docs" / "img" / "studio").glob("*.png")} == written
