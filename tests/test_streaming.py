"""The parts of speech streaming below HTTP: sentence groups, the encoder that emits bytes
block by block, the seam between streamed groups, and reading streamed files back."""

from __future__ import annotations

import time

import numpy as np
import pytest

from audio.crossfade import StreamingJoiner, crossfade_join
from audio.decoding import decode
from audio.encoding import EncodeSpec
from audio.speed import change_speed
from audio.stream_encoding import StreamEncoder, wav_stream_header
from config import AudioSettings
from contract.formats import OutputFormat
from contract.stream_frames import FrameError, FrameReader, WindowFrame, frame
from text.chunks import split_into_chunks

RATE = 24_000
BITRATES = AudioSettings(mp3_bitrate="192k", opus_bitrate="64k", aac_bitrate="128k", sample_rate=None)
TEXT = "Hi. This is the second sentence. A third, longer sentence follows it here. Then a fourth! And the fifth and last one?"


def tone(seconds: float, frequency: float = 220.0, start: int = 0) -> np.ndarray:
    """A continuous sine: cut anywhere, the pieces join back without a step."""
    index = np.arange(start, start + int(seconds * RATE))
    return (0.4 * np.sin(2 * np.pi * frequency * index / RATE)).astype(np.float32)


def test_stream_groups_start_short_and_keep_every_word() -> None:
    groups = split_into_chunks(TEXT, 60, first_chars=20)
    assert groups[0] == "Hi."
    assert all(len(group) <= 60 for group in groups)
    assert " ".join(groups) == " ".join(TEXT.split())
    assert all(split_into_chunks(group, 60) == [group] for group in groups)  # the engine says each in one go
    assert split_into_chunks(TEXT, 1000, first_chars=500) == [" ".join(TEXT.split())]
    assert split_into_chunks("  ", 60, first_chars=20) == []


def encode_in_blocks(fmt: OutputFormat, blocks: list[np.ndarray], sample_rate: int = RATE) -> tuple[bytes, int]:
    """All bytes, and how many had arrived after the first block (before the second was written)."""
    pieces: list[bytes] = []
    encoder = StreamEncoder(EncodeSpec(format=fmt, sample_rate=sample_rate, bitrate=BITRATES.bitrate(fmt.value)), RATE, pieces.append)
    encoder.write(blocks[0])
    deadline = time.monotonic() + 10
    while fmt is not OutputFormat.wav and sum(map(len, pieces)) < 200 and time.monotonic() < deadline:
        time.sleep(0.05)  # ffmpeg's reader thread forwards what the encoder has
    after_first = sum(map(len, pieces))
    for block in blocks[1:]:
        encoder.write(block)
    encoder.finish()
    return b"".join(pieces), after_first


@pytest.mark.parametrize("fmt", list(OutputFormat))
def test_encoder_sends_bytes_before_the_input_ends(fmt: OutputFormat) -> None:
    blocks = [tone(1.0), tone(1.0, start=RATE)]
    data, after_first = encode_in_blocks(fmt, blocks)
    assert after_first > 200 if fmt is not OutputFormat.wav else after_first >= 44
    audio = decode(data, raw_pcm_rate=RATE if fmt is OutputFormat.pcm else None)
    assert audio.sample_rate == RATE
    assert audio.duration_seconds == pytest.approx(2.0, abs=0.08)  # lossy codecs pad a frame


def test_streamed_wav_says_unknown_length_and_reads_back() -> None:
    header = wav_stream_header(RATE)
    assert len(header) == 44 and header[4:8] == header[40:44] == b"\xff\xff\xff\xff"
    data, _ = encode_in_blocks(OutputFormat.wav, [tone(0.5), tone(0.5, start=RATE // 2)])
    assert np.allclose(decode(data).samples, tone(1.0), atol=1e-3)


def test_encoder_resamples_across_blocks_without_seams() -> None:
    """One soxr stream for the whole response: the same as resampling the whole at once."""
    blocks = [tone(0.37), tone(0.5, start=int(0.37 * RATE)), tone(0.13, start=int(0.87 * RATE))]
    data, _ = encode_in_blocks(OutputFormat.pcm, blocks, sample_rate=16_000)
    streamed = decode(data, raw_pcm_rate=16_000).samples
    reference = 0.4 * np.sin(2 * np.pi * 220.0 * np.arange(len(streamed)) / 16_000)
    middle = slice(200, len(streamed) - 200)  # away from the filter's start and end
    assert len(streamed) == pytest.approx(16_000, abs=2)
    assert np.abs(streamed[middle] - reference[middle]).max() < 0.01


def test_streamed_groups_join_like_a_whole_output_without_clicks() -> None:
    """Groups that start and end at arbitrary phases are crossfaded: the joined signal never
    jumps more than the signals themselves do, and equals the whole-output join exactly."""
    clips = [tone(0.4, 220), tone(0.3, 330, start=123), tone(0.5, 275, start=4567)]
    overlap = int(RATE * 30 / 1000)
    sink: list[np.ndarray] = []

    class Sink:
        def write(self, samples: np.ndarray) -> None:
            sink.append(samples)

    joiner = StreamingJoiner(Sink(), overlap)
    for clip in clips:
        joiner.add(clip)
    joiner.finish()
    streamed = np.concatenate(sink)
    assert np.allclose(streamed, crossfade_join(clips, RATE, 30), atol=1e-6)
    largest_step_inside = max(np.abs(np.diff(clip)).max() for clip in clips)
    assert np.abs(np.diff(streamed)).max() <= largest_step_inside * 1.5  # the fade of two unrelated tones, no step
    assert np.abs(np.diff(np.concatenate(clips))).max() > 3 * largest_step_inside  # what a plain append would do


def test_windows_of_a_group_continue_it_and_frames_survive_any_cut() -> None:
    """A group's windows (`StreamingJoiner.extend`) continue it without a seam: groups sent
    in windows join exactly as groups sent whole. The runner's frames come back whole
    however the bytes are cut on the way, and bytes that are not frames are refused."""
    clips = [tone(0.4, 220), tone(0.5, 330, start=123)]
    sink: list[np.ndarray] = []

    class Sink:
        def write(self, samples: np.ndarray) -> None:
            sink.append(samples)

    joiner = StreamingJoiner(Sink(), int(RATE * 30 / 1000))
    joiner.add(clips[0])
    first, *later = np.array_split(clips[1], [100, 4000, 9000])
    joiner.add(first)
    for window in later:
        joiner.extend(window)
    joiner.finish()
    assert np.allclose(np.concatenate(sink), crossfade_join(clips, RATE, 30), atol=1e-6)

    sent = [(WindowFrame(sample_rate=RATE), clips[0]), (WindowFrame(last=True, speech_tokens=12), None)]
    data = b"".join(frame(header, samples) for header, samples in sent)
    reader, received = FrameReader(), []
    for cut in range(0, len(data), 777):
        received += reader.feed(data[cut : cut + 777])
    assert reader.pending == 0 and len(received) == 2
    assert received[0][0].samples == len(clips[0]) and np.array_equal(received[0][1], clips[0])
    assert received[1][0].last and received[1][0].speech_tokens == 12 and received[1][1].size == 0
    with pytest.raises(FrameError):
        FrameReader().feed(b"HTTP/1.1 500 Internal Server Error")


def test_streamed_flac_without_length_reads_back() -> None:
    data, _ = encode_in_blocks(OutputFormat.flac, [tone(0.5), tone(0.5, start=RATE // 2)])
    assert decode(data).duration_seconds == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize(("speed", "library"), [(0.25, "librosa"), (1.5, "audiostretchy"), (4.0, "librosa")])
def test_openai_speed_range_picks_a_stretcher_that_reaches_it(speed: float, library: str) -> None:
    """audiostretchy cannot go past 2x either way; `auto` moves on to librosa there."""
    stretched, used = change_speed(tone(1.0), RATE, speed)
    assert used == library
    assert len(stretched) / RATE == pytest.approx(1.0 / speed, rel=0.05)
