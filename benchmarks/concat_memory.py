"""Concatenation memory benchmark: peak RSS while joining many long files.

Writes N stored outputs of M minutes each (speech from the test data, tiled, as 24 kHz
16-bit WAV, under `outputs/` of a local store), then in a fresh child process runs the real
pipeline (`concat.pipeline.run_concat` with the same loaders the API uses: read from
storage, decode, resample, level, crossfade) into one WAV, and reports the child's peak RSS
against its RSS after imports, with the time taken. Memory must not grow with N or M.

Run: .venv/bin/python benchmarks/concat_memory.py [--files 100] [--minutes 5]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from audio.decoding import decode  # noqa: E402
from audio.encoding import EncodeSpec, encode  # noqa: E402
from contract.formats import OutputFormat  # noqa: E402
from harness.testdata import TESTDATA  # noqa: E402
from outputs.store import OutputMetadata, OutputStore, new_output_name  # noqa: E402
from storage.local import LocalStorage  # noqa: E402

RATE = 24_000


def populate(root: Path, files: int, minutes: float) -> list[str]:
    speech = decode((TESTDATA / "voice_alex.wav").read_bytes(), RATE).samples
    long = np.tile(speech, int(np.ceil(minutes * 60 * RATE / len(speech))))[: int(minutes * 60 * RATE)]
    data = encode(long, RATE, EncodeSpec(format=OutputFormat.wav, sample_rate=RATE))
    store = OutputStore(LocalStorage(root))
    names = []
    for number in range(files):
        name = new_output_name("tts", "wav", {"bench": number})
        store.save(data, OutputMetadata(
            filename=name, type="tts", created_at=datetime.now(timezone.utc), format="wav", content_type="audio/wav", sample_rate=RATE,
            duration_seconds=len(long) / RATE, size_bytes=len(data), generation_seconds=0.0, model_source="none", voice=None, parameters={},
        ))
        names.append(name)
    return names


def child(root: Path, names: list[str], out: Path) -> dict:
    """Runs in its own process, so its peak RSS is the pipeline's alone."""
    from functools import partial

    from api.concat_serving import _loader
    from concat.pipeline import Segment, run_concat
    from concat.request import ConcatRequest

    baseline_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    storage = LocalStorage(root)
    store = OutputStore(storage)
    segments = [Segment(i, name, store.metadata(name).duration_seconds, _loader(partial(storage.get, store.audio_key(name)))) for i, name in enumerate(names)]
    request = ConcatRequest(inputs=[{"output": name} for name in names], crossfade_ms=200, pause_ms=300, normalize="loudness")
    started = time.perf_counter()
    report = run_concat(segments, request, EncodeSpec(format=OutputFormat.wav, sample_rate=RATE), out, 1, lambda *_: None, lambda: False)
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"baseline_rss_mb": round(baseline_kib / 1024, 1), "peak_rss_mb": round(peak_kib / 1024, 1), "output_seconds": report.seconds, "wall_seconds": round(seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        root, names_file, out = args.child
        print(json.dumps(child(Path(root), json.loads(Path(names_file).read_text()), Path(out))))
        return
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "store"
        started = time.perf_counter()
        names = populate(root, args.files, args.minutes)
        names_file = Path(folder) / "names.json"
        names_file.write_text(json.dumps(names))
        populated = time.perf_counter() - started
        out = Path(folder) / "joined.wav"
        result = subprocess.run([sys.executable, __file__, "--child", str(root), str(names_file), str(out)], capture_output=True, text=True, check=True)
        figures = json.loads(result.stdout.strip().splitlines()[-1])
        figures |= {"files": args.files, "minutes_each": args.minutes, "output_bytes": out.stat().st_size, "populate_seconds": round(populated, 1)}
        print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
