"""The three Chatterbox models over HTTP, each request choosing its own: /api/v1/tts (whole
and streamed), the OpenAI SDK's model names, languages, Turbo's tags, inline pauses, and the
400s for what a model cannot do. The local stack serves all three; the S3 stack only the
original."""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Iterator

import numpy as np
import openai
import pytest
import soundfile as sf

from contract.languages import ENGLISH_ONLY, LANGUAGES
from harness.stacks import RunningService
from harness.testdata import read_testdata
from outputs.store import OUTPUT_NAME
from tests.conftest import assert_error
from text.script import DOCUMENTED_TAGS

SHORT_VOICE_SECONDS = 4.0  # under Turbo's 5 s minimum


@pytest.fixture(scope="module")
def stack(local_stack: RunningService) -> Iterator[RunningService]:
    """The local stack with a 7 s library voice and a 4 s one."""
    samples, rate = sf.read(io.BytesIO(read_testdata("voice_alex.wav")), dtype="float32")
    short = io.BytesIO()
    sf.write(short, samples[: int(SHORT_VOICE_SECONDS * rate)], rate, format="WAV")
    for name, data in (("models-alex", read_testdata("voice_alex.wav")), ("models-short", short.getvalue())):
        response = local_stack.client.post("/api/v1/voice", files={"file": (f"{name}.wav", data)}, data={"name": name, "overwrite": "true"})
        assert response.status_code in (200, 201), response.text
    yield local_stack


def seconds_of(data: bytes) -> float:
    info = sf.info(io.BytesIO(data))
    return info.frames / info.samplerate


def test_health_reports_every_enabled_model(stack: RunningService, s3_stack: RunningService) -> None:
    body = stack.health()
    assert body["default_model"] == "original" and set(body["models"]) == {"original", "multilingual", "turbo"}
    for name, model in body["models"].items():
        assert model["ready"] and model["model"] == name and model["source"] == "random" and model["device"] == "cpu"
        assert model["tags"] == (sorted(DOCUMENTED_TAGS) if name == "turbo" else [])  # the turbo tokenizer's added tokens
        assert model["languages"] == (LANGUAGES if name == "multilingual" else ENGLISH_ONLY)  # what `language` accepts (the studio's picker)
        assert model["guidance"] is (name != "turbo")
    assert body["tts"] == body["models"]["original"] and body["vc"]["model"] == "original" and body["vc"]["languages"] is None
    assert set(s3_stack.health()["models"]) == {"original"}


def test_turbo_speaks_with_tags_and_records_its_model(stack: RunningService) -> None:
    text = "Oh, that's hilarious! [chuckle] Anyway, where were we?"
    response = stack.client.post("/api/v1/tts", json={"text": text, "model": "turbo", "voice": "models-alex", "seed": 3, "temperature": 0.7})
    assert response.status_code == 200, response.text
    body = response.json()
    assert OUTPUT_NAME.match(body["filename"]) and "_model-turbo" in body["filename"] and "exag" not in body["filename"]
    parameters = body["metadata"]["parameters"]
    assert parameters["model"] == "turbo" and parameters["temperature"] == 0.7 and parameters["exaggeration"] is None and parameters["cfg_weight"] is None
    audio = stack.client.get(body["url"]).content
    assert seconds_of(audio) > 0.5
    streamed = stack.client.post("/api/v1/tts", json={"text": text, "model": "turbo", "voice": "models-alex", "seed": 3, "temperature": 0.7, "response_mode": "stream"})
    assert streamed.status_code == 200 and streamed.content == audio  # same seed, same audio


@pytest.mark.parametrize(("language", "text"), [("zh", "你好，世界。今天天气很好。"), ("ja", "今日は良い天気です。")])  # a Latin script: the streaming test's de
def test_multilingual_speaks_the_language_asked(stack: RunningService, language: str, text: str) -> None:
    response = stack.client.post("/api/v1/tts", json={"text": text, "model": "multilingual", "language": language, "voice": "models-alex", "seed": 1})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["metadata"]["parameters"]["language"] == language and f"_lang-{language}" in body["filename"]
    assert seconds_of(stack.client.get(body["url"]).content) > 0.2
    assert unicodedata.normalize("NFC", body["metadata"]["parameters"]["text"]) == text


def test_what_a_model_cannot_do_is_a_400_naming_the_field(stack: RunningService, s3_stack: RunningService) -> None:
    base = {"text": "Hello there.", "voice": "models-alex"}
    cases = [
        (stack, base | {"model": "turbo", "language": "fr"}, "language", "turbo model speaks (en); model=multilingual speaks 23 languages"),
        (stack, base | {"model": "multilingual", "language": "xx"}, "language", "ar, da, de"),
        (stack, base | {"model": "turbo", "cfg_weight": 0.3}, "cfg_weight", "no classifier-free guidance"),
        (stack, base | {"model": "turbo", "exaggeration": 0.8}, "exaggeration", "omit it"),
        (stack, base | {"model": "turbo", "voice": "models-short"}, "voice", "needs more than 5 s"),
        (s3_stack, {"text": "Hello.", "model": "turbo"}, "model", "not enabled on this server; use one of: original"),
        (stack, base | {"model": "turbo", "text": "Ha [giggle] ha [laugh]."}, "text", "unknown tag [giggle]: the turbo model performs [chuckle]"),
        (stack, base | {"text": "Wait. [pause:12s] Go."}, "text", "out of range: a pause is more than 0 and at most 10 s"),
        (stack, base | {"model": "multilingual", "text": "Wait. [pause:soon] Go."}, "text", "e.g. [pause:750ms] or [pause:1.5s]"),
        (stack, base | {"text": "[pause:1s] [sigh]"}, "text", "no words to speak"),
    ]
    for running, body, field, words in cases:
        response = running.client.post("/api/v1/tts", json=body)
        assert_error(response, 400, field)
        assert words in response.json()["error"]["message"], response.text
    assert_error(stack.client.post("/api/v1/tts", json=base | {"model": "gpt-5"}), 422, "model")
    assert_error(stack.client.post("/api/v1/tts", json=base | {"language": "French"}), 422, "language")


def silences(audio: bytes, at_least: float = 0.3) -> list[float]:
    """Seconds of each stretch of exact silence of at least `at_least` (random weights speak
    noise: only inserted pauses are silent)."""
    samples, rate = sf.read(io.BytesIO(audio), dtype="int16")
    edges = np.flatnonzero(np.diff(np.concatenate([[0], (samples == 0).astype(np.int8), [0]])))
    runs = (edges[1::2] - edges[::2]) / rate
    return [round(float(run), 2) for run in runs if run >= at_least]


def test_pauses_are_silence_between_the_words_and_tags_go_only_to_turbo(stack: RunningService) -> None:
    text = "Hello there [laugh]. [pause:1.5s] Goodbye now. [pause:750ms]"
    whole = stack.client.post("/api/v1/tts", json={"text": text, "voice": "models-alex", "seed": 5, "output_format": "wav"})
    assert whole.status_code == 200, whole.text
    assert whole.headers["x-tags-removed"] == "[laugh]" and whole.json()["metadata"]["parameters"]["tags_removed"] == ["[laugh]"]
    assert silences(stack.client.get(whole.json()["url"]).content) == pytest.approx([1.5, 0.75], abs=0.04)  # less the crossfade into each

    body = {"text": text, "model": "turbo", "voice": "models-alex", "seed": 5, "output_format": "wav", "response_mode": "stream", "stream_chunks": True}
    with stack.client.stream("POST", "/api/v1/tts", json=body) as streamed:
        assert streamed.status_code == 200 and "x-tags-removed" not in streamed.headers  # turbo performs it
        audio = streamed.read()
    assert silences(audio) == pytest.approx([1.5, 0.75], abs=0.04)


def test_openai_model_names_choose_the_model(stack: RunningService) -> None:
    client = openai.OpenAI(base_url=f"{stack.base_url}/v1", api_key=stack.headers["Authorization"].split()[1], max_retries=0, timeout=600)
    roots = {model.id: model.root for model in client.models.list()}  # `root`: the Chatterbox model a name runs (as vLLM's cards say)
    assert roots.items() >= {"tts-1": "turbo", "tts-1-hd": "original", "chatterbox": "original", "chatterbox-turbo": "turbo", "chatterbox-multilingual": "multilingual"}.items()
    assert client.models.retrieve("chatterbox-multilingual").root == "multilingual"
    for model, extra, expected in (("tts-1", {}, "turbo"), ("chatterbox-multilingual", {"language": "ja"}, "multilingual"), ("tts-1-hd", {}, "original")):
        with client.audio.speech.with_streaming_response.create(model=model, voice="models-alex", input="こんにちは。" if extra else "Hello there.", response_format="wav", extra_body={"seed": 2} | extra) as response:
            audio = response.read()
            filename = response.headers["x-output-filename"]
        assert seconds_of(audio) > 0.2
        parameters = stack.stored_output(filename)["parameters"]
        assert parameters["model"] == expected and parameters["openai"]["model"] == model
    with pytest.raises(openai.BadRequestError) as refused:
        client.audio.speech.create(model="tts-1", voice="models-alex", input="Hi.", extra_body={"language": "de"})
    assert refused.value.body["param"] == "language"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as refused:
        client.audio.speech.create(model="tts-1", voice="models-alex", input="Ha [giggle].")
    assert refused.value.body["param"] == "input" and "unknown tag [giggle]" in refused.value.body["message"]  # type: ignore[index]


@pytest.mark.parametrize(("model", "extra"), [("turbo", {}), ("multilingual", {"language": "de"})])
def test_each_model_streams_while_it_generates(stack: RunningService, model: str, extra: dict) -> None:
    text = "Erster Satz hier. Und ein zweiter Satz danach." if extra else "A first sentence here. And a second one after it."
    body = {"text": text, "model": model, "voice": "models-alex", "seed": 4, "response_mode": "stream", "stream_chunks": True} | extra
    with stack.client.stream("POST", "/api/v1/tts", json=body) as response:
        assert response.status_code == 200
        parts = [part for part in response.iter_bytes() if part]
        filename = response.headers["x-output-filename"]
    assert len(parts) >= 2 and seconds_of(b"".join(parts)) > 0.5  # sent group by group
    stored = stack.stored_output(filename)
    assert stored["parameters"]["model"] == model and stored["parameters"]["streamed"] is True


def test_a_voice_language_is_the_multilingual_default(stack: RunningService) -> None:
    response = stack.client.post("/api/v1/voice", data={"name": "models-alex", "language": "fr"})
    assert response.status_code == 200 and response.json()["voice"]["defaults"]["language"] == "fr"
    try:
        spoken = {}
        for model in ("multilingual", "original"):
            answer = stack.client.post("/api/v1/tts", json={"text": "Bonjour.", "model": model, "voice": "models-alex", "seed": 1})
            assert answer.status_code == 200, answer.text
            spoken[model] = answer.json()["metadata"]["parameters"]["language"]
        assert spoken == {"multilingual": "fr", "original": "en"}  # an English-only model keeps speaking English
        assert_error(stack.client.post("/api/v1/voice", data={"name": "models-alex", "language": "xx"}), 422, "language")
    finally:
        reset = stack.client.put("/api/v1/voice/models-alex/metadata", json={"defaults": {"language": None}})
        assert reset.status_code == 200 and reset.json()["voice"]["defaults"]["language"] is None, reset.text
