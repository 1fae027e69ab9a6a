"""Every example in `examples/` runs against the served local stack (API keys on, all three
models), as a user would run it: the curl script, the Python SDK and openai-package scripts,
the Node.js openai and fetch scripts, and the voice-agent frameworks' own TTS clients (LiveKit
Agents, Pipecat). The curl script must call every operation of
docs/openapi.yaml (checked in the stack's access log), and every example that cleans up must leave
the library and the outputs as it found them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from chatterbox_client import Client

from harness.processes import ROOT
from harness.stacks import DEFAULT_VOICE, RunningService
from harness.testdata import TESTDATA

EXAMPLES = ROOT / "examples"
VOICE_FILE = str(TESTDATA / "voice_alex.wav")  # 7 s: long enough for every model
OPENAI_VOICE = "openai-example"
METHODS = ("get", "post", "put", "delete", "head", "patch")
ACCESS_LINE = re.compile(r"\(scheme=http,method=(\w+),path=([^,]+),")


def run_example(stack: RunningService, command: list[str], timeout: float = 300) -> str:
    env = os.environ | {
        "CHATTERBOX_URL": stack.base_url,
        "CHATTERBOX_API_KEY": stack.headers["Authorization"].removeprefix("Bearer "),
        "PYTHONPATH": str(ROOT / "clients" / "python"),  # as `pip install ./clients/python` would
    }
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def library_and_outputs(stack: RunningService) -> tuple[set[str], set[str]]:
    with Client(stack.base_url, api_key=stack.headers["Authorization"].removeprefix("Bearer ")) as client:
        return {voice.name for voice in client.iter_voices()}, {output.filename for output in client.iter_outputs()}


def operations() -> set[tuple[str, re.Pattern[str]]]:
    """(method, path pattern) of every operation the API documents."""
    paths = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())["paths"]
    return {(method.upper(), re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$")) for path, item in paths.items() for method in item if method in METHODS}


@contextmanager
def openai_voice(stack: RunningService) -> Iterator[list[str]]:
    """A library voice for the OpenAI-route examples, removed afterwards with what they
    stored (they keep their outputs, as a user would want); yields the names of those."""
    made: list[str] = []
    files = {"file": ("alex.wav", Path(VOICE_FILE).read_bytes())}
    assert stack.client.post("/api/v1/voice", files=files, data={"name": OPENAI_VOICE, "overwrite": "true"}).status_code in (200, 201)
    try:
        yield made
    finally:
        made += [output["filename"] for output in stack.client.get("/api/v1/outputs", params={"voice": OPENAI_VOICE}).json()["items"]]
        for filename in made:
            stack.client.delete(f"/api/v1/outputs/{filename}")
        stack.client.delete(f"/api/v1/voice/{OPENAI_VOICE}", params={"confirm": "true"})


def test_the_curl_script_calls_every_documented_operation(local_stack: RunningService) -> None:
    before = library_and_outputs(local_stack)
    start = local_stack.log.stat().st_size
    run_example(local_stack, ["bash", str(EXAMPLES / "curl" / "every_endpoint.sh"), VOICE_FILE])
    with local_stack.log.open() as log:
        log.seek(start)
        called = set(ACCESS_LINE.findall(log.read()))
    missing = sorted(f"{method} {pattern.pattern}" for method, pattern in operations() if not any(m == method and pattern.match(p) for m, p in called))
    assert not missing, f"examples/curl/every_endpoint.sh never calls {missing}"
    assert library_and_outputs(local_stack) == before  # it removed what it made


def test_the_python_examples(local_stack: RunningService) -> None:
    before = library_and_outputs(local_stack)
    said = run_example(local_stack, [sys.executable, str(EXAMPLES / "python" / "sdk_quickstart.py"), VOICE_FILE])
    assert "joined:" in said and "deleted: ['sdk-example'] and 4 outputs" in said
    assert library_and_outputs(local_stack) == before
    with openai_voice(local_stack) as stored:
        said = run_example(local_stack, [sys.executable, str(EXAMPLES / "python" / "openai_speech.py"), OPENAI_VOICE])
    assert re.search(r"whole: \d{4,} bytes", said) and re.search(r"streamed: \d{4,} bytes", said) and len(stored) == 2


def test_the_node_examples(local_stack: RunningService) -> None:
    before = library_and_outputs(local_stack)
    said = run_example(local_stack, ["node", str(EXAMPLES / "node" / "fetch_api.mjs"), VOICE_FILE])
    assert "listed: [ 'fetch-example' ]" in said and "refused: 422 invalid_request_error: text:" in said
    assert library_and_outputs(local_stack) == before
    with openai_voice(local_stack) as stored:
        said = run_example(local_stack, ["node", str(EXAMPLES / "node" / "openai_speech.mjs"), OPENAI_VOICE])
    assert re.search(r"whole: \d{4,} bytes", said) and re.search(r"streamed: tts_\S+\.mp3", said) and len(stored) == 2


def new_outputs(stack: RunningService, before: set[str]) -> list[dict]:
    return [output for output in stack.client.get("/api/v1/outputs", params={"page_size": 100}).json()["items"] if output["filename"] not in before]


def test_the_voice_agent_examples(local_stack: RunningService) -> None:
    """LiveKit Agents' OpenAI plugin and Pipecat's OpenAITTSService, their own client code
    sending their own requests: every second of what the server stored reaches the agent (mp3
    over SSE decoded by LiveKit, raw PCM for both), and Pipecat's `nova` (the only kind of name
    it sends) speaks with the configured default voice."""
    with openai_voice(local_stack) as stored:
        said = run_example(local_stack, [sys.executable, str(EXAMPLES / "agents" / "livekit_tts.py"), OPENAI_VOICE, "mp3"])
        said += run_example(local_stack, [sys.executable, str(EXAMPLES / "agents" / "livekit_tts.py"), OPENAI_VOICE, "pcm"])
        made = {output["format"]: output for output in local_stack.client.get("/api/v1/outputs", params={"voice": OPENAI_VOICE}).json()["items"]}
    heard = {kind: float(seconds) for kind, seconds in re.findall(r"livekit (\w+): \d+ frames, ([\d.]+) s at 24000 Hz", said)}
    assert set(heard) == {"mp3", "pcm"} and set(made) == {"mp3", "pcm"} and len(stored) == 2, said
    assert heard["pcm"] == pytest.approx(made["pcm"]["duration_seconds"], abs=0.01)
    assert heard["mp3"] == pytest.approx(made["mp3"]["duration_seconds"], abs=0.1)  # an mp3 frame of padding at most

    before = {output["filename"] for output in local_stack.client.get("/api/v1/outputs", params={"page_size": 100}).json()["items"]}
    said = run_example(local_stack, [sys.executable, str(EXAMPLES / "agents" / "pipecat_tts.py"), "nova"])
    made_now = new_outputs(local_stack, before)
    try:
        assert len(made_now) == 1, said
        seconds = float(re.search(r"pipecat: \d+ bytes, ([\d.]+) s of 24000 Hz PCM", said).group(1))
        assert seconds == pytest.approx(made_now[0]["duration_seconds"], abs=0.01)
        assert made_now[0]["parameters"]["voice_source"] == "default" and Path(made_now[0]["parameters"]["voice"]).stem == DEFAULT_VOICE  # predefined/bella-file.wav
    finally:
        for output in made_now:
            local_stack.client.delete(f"/api/v1/outputs/{output['filename']}")
