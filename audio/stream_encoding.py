"""Encoding audio while it is still being generated, for responses that start playing
before the whole text is spoken.

Blocks go in as they are generated; encoded bytes come out through `on_bytes` as soon as
the encoder has them. WAV gets a header with unknown length (0xFFFFFFFF, as OpenAI streams
it), raw PCM is the int16 bytes, and MP3, Opus, AAC and FLAC run through one ffmpeg
process whose output a reader thread forwards, so a slow reader never blocks the writer.
Rate conversion uses one soxr stream for the whole response: no edges at block seams.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable

import numpy as np
import soxr

from audio.decoding import STREAMED_WAV_SIZE, complete_riff, to_int16
from audio.encoding import STREAM_ENCODERS, EncodeSpec, FFmpegEncoder
from contract.formats import OutputFormat

READ_BYTES = 4096
FLAC_TOTAL_SAMPLES = slice(18, 26)  # STREAMINFO's sample rate ... total samples (its low 36 bits), big-endian


def with_flac_length(data: bytes, samples: int) -> bytes:
    """A FLAC stream written to a pipe says "length unknown" (ffmpeg cannot seek back to
    fill it in); the copy that is kept says how long it is."""
    if data[:4] != b"fLaC" or len(data) < FLAC_TOTAL_SAMPLES.stop:
        return data
    fields = int.from_bytes(data[FLAC_TOTAL_SAMPLES], "big")
    fields = (fields & ~((1 << 36) - 1)) | (samples & ((1 << 36) - 1))
    return data[: FLAC_TOTAL_SAMPLES.start] + fields.to_bytes(8, "big") + data[FLAC_TOTAL_SAMPLES.stop :]


def wav_stream_header(sample_rate: int) -> bytes:
    """A 16-bit mono WAV header whose RIFF and data sizes say "unknown" (players read on
    until the stream ends)."""
    fmt = struct.pack("<HHIIHH", 1, 1, sample_rate, sample_rate * 2, 2, 16)
    return b"RIFF" + struct.pack("<I", STREAMED_WAV_SIZE) + b"WAVEfmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", STREAMED_WAV_SIZE)


class StreamEncoder:
    """Mono float32 blocks at `source_rate` in, `spec`-encoded bytes out through `on_bytes`
    (called from a reader thread for ffmpeg formats). `finish` flushes and waits for the
    last bytes; `abort` stops at once."""

    def __init__(self, spec: EncodeSpec, source_rate: int, on_bytes: Callable[[bytes], None]) -> None:
        self.spec = spec
        self.on_bytes = on_bytes
        self._resampler = soxr.ResampleStream(source_rate, spec.sample_rate, 1, dtype="float32") if source_rate != spec.sample_rate else None
        self._ffmpeg: FFmpegEncoder | None = None
        self._reader: threading.Thread | None = None
        self.samples_written = 0  # at spec.sample_rate
        if spec.format in STREAM_ENCODERS:
            self._ffmpeg = FFmpegEncoder(spec, "pipe:1", streaming=True)
            self._reader = threading.Thread(target=self._forward_output, name="stream-encoder", daemon=True)
            self._reader.start()
        elif spec.format is OutputFormat.wav:
            on_bytes(wav_stream_header(spec.sample_rate))

    def _forward_output(self) -> None:
        assert self._ffmpeg is not None and self._ffmpeg.process.stdout is not None
        while data := self._ffmpeg.process.stdout.read1(READ_BYTES):
            self.on_bytes(data)

    def _write(self, samples: np.ndarray) -> None:
        if samples.size == 0:
            return
        self.samples_written += samples.size
        data = to_int16(samples).astype("<i2").tobytes()
        if self._ffmpeg is None:
            self.on_bytes(data)
        else:
            self._ffmpeg.write(data)

    def write(self, samples: np.ndarray) -> None:
        self._write(self._resampler.resample_chunk(samples) if self._resampler else samples)

    def finish(self) -> None:
        if self._resampler is not None:
            self._write(self._resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
        if self._ffmpeg is None:
            return
        assert self._reader is not None
        try:
            self._ffmpeg.finish()
            self._reader.join()
        finally:
            self._ffmpeg.close_pipes()

    def as_file(self, streamed: bytes) -> bytes:
        """Everything `on_bytes` got, once finished, as a file to keep: the same bytes, with
        the lengths that a stream could not know written into WAV and FLAC headers."""
        if self.spec.format is OutputFormat.wav:
            return complete_riff(streamed)
        if self.spec.format is OutputFormat.flac:
            return with_flac_length(streamed, self.samples_written)
        return streamed

    def abort(self) -> None:
        if self._ffmpeg is not None:
            self._ffmpeg.kill()
            if self._reader is not None:
                self._reader.join()
            self._ffmpeg.close_pipes()
