"""The official `openai` package against the OpenAI-compatible route: whole, then streamed to
a file as it is generated. The voice is any library voice (or an alias the server maps).

    CHATTERBOX_URL=http://localhost:3000 CHATTERBOX_API_KEY=... python examples/python/openai_speech.py alex
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from openai import OpenAI


def main(voice: str) -> None:
    client = OpenAI(
        base_url=os.environ.get("CHATTERBOX_URL", "http://localhost:3000") + "/v1",
        api_key=os.environ.get("CHATTERBOX_API_KEY") or "no-key",  # the package insists on one; the server ignores it when keys are off
        timeout=600,  # long texts take a while
    )
    model = client.models.list().data[0].id  # tts-1, tts-1-hd, ...: which depends on the models served
    work = Path(tempfile.mkdtemp())

    whole = client.audio.speech.create(model=model, voice=voice, input="Hello from the openai package.", response_format="wav")
    (work / "hello.wav").write_bytes(whole.content)
    print("whole:", len(whole.content), "bytes")

    with client.audio.speech.with_streaming_response.create(model=model, voice=voice, input="This one is written while it is generated.", response_format="mp3") as response:
        response.stream_to_file(work / "streamed.mp3")
    print("streamed:", (work / "streamed.mp3").stat().st_size, "bytes")


if __name__ == "__main__":
    main(sys.argv[1])
