"""Speed change, encoding in every format, levels, byte ranges and streaming joins, on real
audio without the service."""

from __future__ import annotations

import io

import librosa
import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

from api.ranges import ByteRange, RangeNotSatisfiableError, parse_range
from audio import speed
from audio.crossfade import StreamingJoiner, crossfade_join
from audio.decoding import decode
from audio.encoding import AudioWriter, EncodeSpec, encode
from audio.levels import normalize
from audio.speed import STRETCHERS, change_speed
from contract.formats import SAMPLE_RATES, OutputFormat
from harness.testdata import read_testdata

RATE = 24_000


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return decode(read_testdata("voice_alex.wav"), RATE).samples


def median_f0(samples: np.ndarray) -> float:
    f0, voiced, _ = librosa.pyin(samples, fmin=60, fmax=400, sr=RATE, frame_length=2048)
    return float(np.nanmedian(f0[voiced]))


@pytest.mark.parametrize("library", list(STRETCHERS))
@pytest.mark.parametrize("factor", [0.5, 0.8, 1.5, 2.0])
def test_each_library_scales_duration_and_keeps_pitch(speech: np.ndarray, library: str, factor: float) -> None:
    stretched, used = change_speed(speech, RATE, factor, library)  # type: ignore[arg-type]
    assert used == library
    assert len(stretched) / RATE == pytest.approx(len(speech) / RATE / factor, rel=0.03)
    assert median_f0(stretched) == pytest.approx(median_f0(speech), rel=0.05)


def test_speed_one_is_free(speech: np.ndarray) -> None:
    samples, used = change_speed(speech, RATE, 1.0)
    assert samples is speech and used is None


def test_auto_falls_back_when_a_library_fails(speech: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object) -> np.ndarray:
        raise ImportError("audiostretchy is not installed")

    monkeypatch.setitem(speed.STRETCHERS, "audiostretchy", broken)
    _, used = change_speed(speech[: RATE * 2], RATE, 1.25, "auto")
    assert used == "librosa"
    monkeypatch.setitem(speed.STRETCHERS, "librosa", broken)
    _, used = change_speed(speech[: RATE * 2], RATE, 1.25, "audiostretchy")
    assert used == "torchaudio"
    monkeypatch.setitem(speed.STRETCHERS, "torchaudio", broken)
    with pytest.raises(speed.SpeedChangeError, match="audiostretchy: ImportError"):
        change_speed(speech[: RATE * 2], RATE, 1.25)


@pytest.mark.parametrize("fmt", list(OutputFormat))
@pytest.mark.parametrize("rate", [16_000, 44_100])
def test_every_format_round_trips_at_the_asked_rate(speech: np.ndarray, fmt: OutputFormat, rate: int) -> None:
    clip = speech[: RATE * 2]
    data = encode(clip, RATE, EncodeSpec(format=fmt, sample_rate=rate, bitrate="96k" if fmt.has_bitrate else None))
    back = decode(data, raw_pcm_rate=rate if fmt is OutputFormat.pcm else None)
    assert back.original_sample_rate in ((rate, 48_000) if fmt is OutputFormat.opus else (rate,))  # Opus may report its 48 kHz
    # Lossy codecs add encoder delay and frame padding: up to about two frames.
    assert back.duration_seconds == pytest.approx(2.0, abs=0.15 if fmt.has_bitrate else 0.001)
    if fmt is OutputFormat.pcm:
        assert len(data) == 2 * 2 * rate  # 16-bit mono, no header


@pytest.mark.parametrize("fmt", list(OutputFormat))
def test_streaming_writer_matches_whole_file_encoding(tmp_path, speech: np.ndarray, fmt: OutputFormat) -> None:
    spec = EncodeSpec(format=fmt, sample_rate=RATE, bitrate="64k" if fmt.has_bitrate else None)
    path = tmp_path / f"out.{fmt.extension}"
    with AudioWriter(path, spec) as writer:
        for block in np.array_split(speech, 7):
            writer.write(block)
    assert writer.seconds == pytest.approx(len(speech) / RATE)
    streamed = decode(path.read_bytes(), raw_pcm_rate=RATE if fmt is OutputFormat.pcm else None)
    whole = decode(encode(speech, RATE, spec), raw_pcm_rate=RATE if fmt is OutputFormat.pcm else None)
    assert streamed.duration_seconds == pytest.approx(whole.duration_seconds, abs=0.1 if fmt.has_bitrate else 0.0)
    if fmt in (OutputFormat.wav, OutputFormat.flac, OutputFormat.pcm):
        assert np.array_equal(streamed.samples, whole.samples)


def test_content_types_and_rates() -> None:
    assert {fmt.value: fmt.content_type for fmt in OutputFormat} == {
        "wav": "audio/wav", "mp3": "audio/mpeg", "opus": "audio/ogg", "aac": "audio/aac", "flac": "audio/flac", "pcm": "audio/pcm",
    }
    assert 24_000 in SAMPLE_RATES


@pytest.mark.parametrize("mode,target", [("peak", -3.0), ("rms", -23.0), ("loudness", -20.0)])
def test_normalize_reaches_the_target(speech: np.ndarray, mode: str, target: float) -> None:
    levelled, gain = normalize(speech * 0.1, RATE, mode, target)  # type: ignore[arg-type]
    assert gain is not None and gain > 0
    if mode == "peak":
        measured = 20 * np.log10(np.abs(levelled).max())
    elif mode == "rms":
        measured = 20 * np.log10(np.sqrt(np.mean(levelled.astype(np.float64) ** 2)))
    else:
        measured = pyloudnorm.Meter(RATE).integrated_loudness(levelled.astype(np.float64))
    assert measured == pytest.approx(target, abs=0.1)


def test_normalize_leaves_silence_alone() -> None:
    silence = np.zeros(RATE, dtype=np.float32)
    for mode in ("peak", "rms", "loudness"):
        assert normalize(silence, RATE, mode, -20.0) == (silence, None)  # type: ignore[arg-type]


def test_streaming_joiner_matches_the_in_memory_join() -> None:
    class Sink:
        def __init__(self) -> None:
            self.blocks: list[np.ndarray] = []

        def write(self, samples: np.ndarray) -> None:
            self.blocks.append(samples)

    rng = np.random.default_rng(3)
    clips = [rng.standard_normal(n).astype(np.float32) for n in (1000, 300, 800, 120)]
    sink = Sink()
    joiner = StreamingJoiner(sink, 100)
    for clip in clips:
        joiner.add(clip)
    joiner.finish()
    assert np.array_equal(np.concatenate(sink.blocks), crossfade_join(clips, 1000, 100))


@pytest.mark.parametrize(
    "header,expected",
    [
        (None, None),
        ("bytes=0-99", ByteRange(0, 100)),
        ("bytes=100-", ByteRange(100, 900)),
        ("bytes=-100", ByteRange(900, 100)),
        ("bytes=-5000", ByteRange(0, 1000)),
        ("bytes=990-5000", ByteRange(990, 10)),
        ("bytes=0-1,5-9", None),  # several ranges: the whole file
        ("items=0-1", None),
        ("bytes=50-10", None),
    ],
)
def test_parse_range(header: str | None, expected: ByteRange | None) -> None:
    assert parse_range(header, 1000) == expected


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5000-6000", "bytes=-0"])
def test_unsatisfiable_ranges(header: str) -> None:
    with pytest.raises(RangeNotSatisfiableError):
        parse_range(header, 1000)


def test_wav_header_is_standard(speech: np.ndarray) -> None:
    info = sf.info(io.BytesIO(encode(speech[:RATE], RATE, EncodeSpec(format=OutputFormat.wav, sample_rate=22_050))))
    assert (info.samplerate, info.channels, info.subtype) == (22_050, 1, "PCM_16")
