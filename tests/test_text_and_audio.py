"""Text chunking, crossfades, audio decoding and the conditioning cache."""

from __future__ import annotations

import numpy as np
import pytest

from audio.crossfade import crossfade_join
from audio.decoding import AudioDecodeError, decode
from harness.testdata import read_testdata
from models.conditioning import LRUCache
from text.chunks import split_into_chunks


def test_chunks_respect_sentences_and_limit() -> None:
    text = "First sentence here. Second one follows! Third? " + "word, " * 80 + "end. " + "x" * 250
    chunks = split_into_chunks(text, 100)
    assert all(len(chunk) <= 100 for chunk in chunks)
    assert chunks[0] == "First sentence here. Second one follows! Third?"
    assert " ".join(chunks).replace(" ", "") == " ".join(text.split()).replace(" ", "")  # nothing lost


def test_short_text_is_one_chunk() -> None:
    assert split_into_chunks("  Hello   world.  ", 300) == ["Hello world."]


def test_crossfade_is_equal_power_and_shortens_by_overlap() -> None:
    sample_rate = 1000
    a, b = np.ones(500, dtype=np.float32), np.ones(300, dtype=np.float32)
    joined = crossfade_join([a, b], sample_rate, crossfade_ms=100)
    assert len(joined) == 500 + 300 - 100
    seam = joined[400:500]
    assert seam.max() <= np.sqrt(2) + 1e-6 and seam.min() >= 1.0 - 1e-6  # cos + sin of one signal
    assert len(crossfade_join([a, np.ones(20, dtype=np.float32)], sample_rate, 100)) == 500  # fade shortened to the clip


@pytest.mark.parametrize("name", ["voice_alex.wav", "voice_alex.mp3", "voice_alex.ogg", "voice_bella.flac", "voice_bella_stereo_44k.wav"])
def test_decode_every_test_format_to_mono_24k(name: str) -> None:
    audio = decode(read_testdata(name), 24_000)
    assert audio.sample_rate == 24_000 and audio.samples.ndim == 1 and audio.duration_seconds > 5


@pytest.mark.parametrize("name", ["not_audio.wav", "truncated.wav"])
def test_decode_rejects_corrupt_files(name: str) -> None:
    with pytest.raises(AudioDecodeError):
        decode(read_testdata(name))




def test_lru_cache_is_bounded_and_counts() -> None:
    cache: LRUCache[int] = LRUCache(2)
    calls = []
    for key in ["a", "b", "a", "c", "b"]:
        cache.get_or_compute(key, lambda key=key: calls.append(key) or len(calls))
    assert calls == ["a", "b", "c", "b"]  # 'b' was evicted by 'c' ('a' was used more recently)
    assert (cache.hits, cache.misses, len(cache)) == (1, 4, 2)
