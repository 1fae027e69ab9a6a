"""S3Gen in windows: a chunk's audio while T3 is still decoding it.

Chatterbox's S3Gen is CosyVoice2's flow-matching decoder and HiFT vocoder, so windows are
rendered the way CosyVoice2 streams (`token2wav` in its `cli/model.py`), which upstream's
S3Gen supports but never calls:

- the flow renders all the chunk's tokens so far (its decoder attends over the whole
  utterance); until the last window, the last `pre_lookahead_len` tokens have no look-ahead
  yet, so their mel frames wait for the next window; only the mel frames beyond those
  already vocoded are new. (CosyVoice2 passes `finalize=False` for that, but chatterbox
  0.1.7's flow then trims the encoder's output and not its mask, and fails; so every window
  renders with `finalize=True` and drops those frames here, the decoder seeing them as
  context only);
- HiFT vocodes the new frames after the previous window's last 8 (`MEL_CACHE_FRAMES`), with
  that window's excitation source for them (`cache_source`, so the harmonic phase runs on),
  and the audio of those 8 frames is crossfaded with the previous window's (held back, not
  yet sent). CosyVoice2 fades with a Hamming window, whose halves sum to 1.08; the two
  signals are nearly the same here, so a raised-cosine pair (summing to 1) keeps the level.

The flow-matching noise is one sequence per chunk, drawn from the job's seed (the prompt's
frames first, then the generated ones in blocks) and sliced by frame, so frame t gets the
same noise in every window (CosyVoice2 keeps a fixed noise buffer for the same reason);
HiFT's source noise comes from the global generator, which the engine seeds per window. The
flow is `models/s3gen_flow.py`'s, as for whole renders. The total length is that of a whole
render of the same tokens.

Each window is watermarked as whole renders are (`WindowWatermark`).
"""

from __future__ import annotations

import numpy as np
import torch
from chatterbox.models.s3gen import S3GEN_SR

from models.families.base import ModelFamily
from models.s3gen_flow import TOKEN_FRAMES, FlowRow, flow_mels, prompt_tokens, row_noise, vocoded

FRAME_SAMPLES = S3GEN_SR // 50  # S3Gen's mel frames are 50 a second
MEL_CACHE_FRAMES = 8
OVERLAP_SAMPLES = MEL_CACHE_FRAMES * FRAME_SAMPLES
NOISE_BLOCK_FRAMES = 256
WATERMARK_CONTEXT_SAMPLES = 4800  # Perth's output settles within 0.1 s of an edge (measured): 0.2 s of context


def _fades(length: int) -> tuple[torch.Tensor, torch.Tensor]:
    phase = torch.linspace(0.0, torch.pi / 2, length)
    return torch.sin(phase) ** 2, torch.cos(phase) ** 2


class WindowWatermark:
    """Perth's watermark over a stream of windows. Perth works on a spectrogram of a
    resampled signal, so its output near a cut differs from a whole pass (measured: about
    0.1 s into each side). Each window is watermarked with the 0.2 s before it as context and
    the audio held back after it (the next window's overlap) as the right edge, and only its
    own samples are kept: the result matches a whole pass to within the watermark's noise."""

    def __init__(self, watermarker: object, sample_rate: int) -> None:
        self.watermarker = watermarker
        self.sample_rate = sample_rate
        self._context = np.zeros(0, dtype=np.float32)

    def apply(self, samples: np.ndarray, after: np.ndarray) -> np.ndarray:
        if samples.size == 0:
            return samples
        signal = np.concatenate([self._context, samples, after])
        marked = np.asarray(self.watermarker.apply_watermark(signal, sample_rate=self.sample_rate), dtype=np.float32)  # type: ignore[attr-defined]
        kept = marked[len(self._context) : len(self._context) + len(samples)]
        if len(kept) < len(samples):  # the resampling inside lost a sample at the very end
            kept = np.concatenate([kept, samples[len(kept) :]])
        self._context = np.concatenate([self._context, samples])[-WATERMARK_CONTEXT_SAMPLES:]
        return kept


class WindowedRender:
    """What S3Gen carries from one window of a chunk to the next. The engine calls `vocode`
    under its S3Gen lock, one window at a time, in order."""

    def __init__(self, family: ModelFamily, gen: dict, seed: int) -> None:
        self.family = family
        self.s3gen = family.model.s3gen
        self.gen = gen
        self.seed = seed
        self.windows = 0  # rendered so far
        self.watermark = WindowWatermark(family.model.watermarker, S3GEN_SR)
        self._frames_done = 0
        self._noise_source = torch.Generator().manual_seed(seed)
        self._noise = row_noise(gen, 0, self._noise_source)  # the prompt's frames; the chunk's are added in blocks
        self._mel_cache: torch.Tensor | None = None
        self._source_cache: torch.Tensor | None = None
        self._speech_cache: torch.Tensor | None = None

    def _noise_for(self, tokens: int) -> torch.Tensor:
        """The noise of the prompt's frames and those of the chunk's first `tokens` tokens."""
        wanted = TOKEN_FRAMES * (prompt_tokens(self.gen) + tokens)
        while self._noise.shape[1] < wanted:
            self._noise = torch.cat([self._noise, torch.randn(80, NOISE_BLOCK_FRAMES, generator=self._noise_source)], dim=1)
        return self._noise[:, :wanted]

    def _mels(self, speech: torch.Tensor, last: bool) -> torch.Tensor:
        flow = self.s3gen.flow
        frames = speech.numel() * flow.token_mel_ratio
        ready = frames - (0 if last else flow.pre_lookahead_len * flow.token_mel_ratio)
        if ready <= self._frames_done:
            return torch.zeros(1, 80, 0, device=self.s3gen.device)
        [mels] = flow_mels(self.s3gen, [FlowRow(speech, self.gen, self._noise_for(speech.numel()))])
        return mels[None, :, self._frames_done : ready].float()  # the vocoder's dtype

    def vocode(self, speech_tokens: list[int], last: bool) -> tuple[np.ndarray, np.ndarray]:
        """The next window's audio of the chunk's tokens so far (`last`: all of them): the
        samples that are final, and those held back for the next window's crossfade."""
        speech = self.family.audio_tokens(speech_tokens)
        if last:
            speech = self.family.speech_to_render(speech)
        new = self._mels(speech, last) if speech.numel() else torch.zeros(1, 80, 0, device=self.s3gen.device)
        empty = np.zeros(0, dtype=np.float32)
        cached = 0 if self._mel_cache is None else MEL_CACHE_FRAMES
        if (last and new.shape[2] == 0 and self._speech_cache is None) or (not last and cached + new.shape[2] <= MEL_CACHE_FRAMES):
            return empty, empty  # nothing to say yet (or ever): wait for more tokens
        self._frames_done += new.shape[2]
        self.windows += 1
        mels = new if self._mel_cache is None else torch.cat([self._mel_cache, new], dim=2)
        speech_out, source = vocoded(self.s3gen, mels, self._source_cache)
        if self._speech_cache is None:
            speech_out[:, : len(self.s3gen.trim_fade)] *= self.s3gen.trim_fade  # as upstream starts every render
        else:
            fade_in, fade_out = (fade.to(speech_out) for fade in _fades(OVERLAP_SAMPLES))
            speech_out[:, :OVERLAP_SAMPLES] = speech_out[:, :OVERLAP_SAMPLES] * fade_in + self._speech_cache * fade_out
        samples = speech_out.squeeze(0).float().cpu().numpy()
        if last:
            return samples, empty
        self._mel_cache = mels[:, :, -MEL_CACHE_FRAMES:]
        self._source_cache = source[:, :, -OVERLAP_SAMPLES:]
        self._speech_cache = speech_out[:, -OVERLAP_SAMPLES:]
        return samples[:-OVERLAP_SAMPLES], samples[-OVERLAP_SAMPLES:]
