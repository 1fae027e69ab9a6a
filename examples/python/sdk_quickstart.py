"""The Python SDK (`pip install ./clients/python`) end to end: a voice uploaded, speech made
whole and streamed, converted, joined, downloaded, then everything removed again.

    CHATTERBOX_URL=http://localhost:3000 CHATTERBOX_API_KEY=... python examples/python/sdk_quickstart.py my_voice.wav
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from chatterbox_client import Client


def main(voice_file: str) -> None:
    work = Path(tempfile.mkdtemp())
    with Client() as client:  # CHATTERBOX_URL and CHATTERBOX_API_KEY from the environment
        print("models:", ", ".join(client.health().models))
        voice = client.upload_voice(voice_file, name="sdk-example", folder="examples", tags=["example"], overwrite=True).voice
        print("voice:", voice.name, voice.quality.verdict if voice.quality else "")

        spoken = client.speak("Hello from the Python SDK.", voice=voice.name, seed=42)
        print("spoken:", spoken.filename, f"{spoken.metadata.duration_seconds:.2f} s")

        with client.stream_speech("Streamed while it is generated.", voice=voice.name, output_format="mp3") as response, (work / "streamed.mp3").open("wb") as file:
            for block in response.iter_bytes():  # audio arrives before the whole text is spoken
                file.write(block)
        print("streamed:", response.headers["x-output-filename"])

        converted = client.convert(source_output=spoken.filename, target_voice=voice.name)
        joined = client.concat([{"output": spoken.filename}, {"silence_ms": 400}, {"output": converted.filename}], crossfade_ms=30)
        path = client.download_output(joined.filename, work / joined.filename)
        print("joined:", path, path.stat().st_size, "bytes")

        made = [output.filename for output in client.iter_outputs(voice=voice.name)] + [joined.filename]  # spoken and converted with the voice, and the join
        for filename in made:
            client.delete_output(filename)
        print("deleted:", client.delete_voice(voice.name).deleted, "and", len(made), "outputs")


if __name__ == "__main__":
    main(sys.argv[1])
