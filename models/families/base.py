"""What every Chatterbox model family does around T3 and S3Gen, as upstream's `generate()`
does it for that model, minus the per-request state it keeps on the model. A family's module
(`models/families/<name>.py`) subclasses `ModelFamily` with:

- loading: its checkpoint (`from_local`) or random weights of its own architecture with a
  generated tokenizer (`build_random`, for offline tests and benchmarks);
- text: its punctuation cleanup and tokenizer (`text_tokens`);
- decoding: the job as its T3 decoder takes it, with its upstream sampling defaults
  (`decode_request`);
- and, where it differs from the original model's, conditioning and rendering.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import librosa
import numpy as np
import torch
import torch.nn.functional as F
from chatterbox.models.s3gen import S3GEN_SR
from chatterbox.models.s3tokenizer import S3_SR, drop_invalid_tokens
from chatterbox.models.t3.modules.cond_enc import T3Cond
from chatterbox.mtl_tts import ChatterboxMultilingualTTS
from chatterbox.tts import ChatterboxTTS, Conditionals
from chatterbox.tts_turbo import ChatterboxTurboTTS

from config import TTSSettings
from config.settings import S3GenSize
from contract.families import FAMILIES, FamilyFacts
from contract.runner_jobs import ClientFaultError, TTSJob
from models.conditioning import s3gen_reference
from models.s3gen_flow import FlowRow, render_rows, seeded_row
from models.t3_batch import DecodeRequest, TurboDecodeRequest

TTSModel = ChatterboxTTS | ChatterboxMultilingualTTS | ChatterboxTurboTTS
SPEECH_VOCAB_SIZE = 6561  # ids at or above are T3's start/stop tokens, never audio


class ReferenceTooShortError(ClientFaultError):
    """The voice's reference is shorter than this model takes."""


class ModelFamily(ABC):
    """One family's code around one loaded model of that family."""

    name: ClassVar[str]
    upstream: ClassVar[type[TTSModel]]  # upstream's class of this model

    def __init__(self, model: TTSModel) -> None:
        self.model = model

    @classmethod
    def facts(cls) -> FamilyFacts:
        return FAMILIES[cls.name]

    # --- loading --------------------------------------------------------------------

    @classmethod
    def from_local(cls, folder: Path, device: str) -> TTSModel:
        """The model from a checkpoint folder holding the family's files: upstream's loader."""
        return cls.upstream.from_local(folder, device)

    @classmethod
    @abstractmethod
    def build_random(cls, seed: int, t3_layers: int, s3gen_size: S3GenSize, device: str) -> TTSModel:
        """The family's own classes with random weights and a generated tokenizer."""

    # --- generation -----------------------------------------------------------------

    @abstractmethod
    def text_tokens(self, text: str, language: str | None) -> torch.Tensor:
        """The 1-D token ids T3 reads for `text`, as upstream's `generate()` prepares them."""

    @abstractmethod
    def decode_request(self, job: TTSJob, tokens: torch.Tensor, cond: T3Cond, settings: TTSSettings, stop_after: int | None) -> DecodeRequest | TurboDecodeRequest:
        """The job as its model's decoder takes it, with the model's upstream defaults for
        what the job does not set."""

    def request_basics(self, job: TTSJob, tokens: torch.Tensor, cond: T3Cond, settings: TTSSettings, stop_after: int | None) -> dict[str, Any]:
        """What every family's decode request carries: the text, the voice, the job's own
        seeded generator (the same seed gives the same tokens in any batch) and its limits."""
        generator = torch.Generator(device=self.model.device).manual_seed(job.seed)
        return {"text_tokens": tokens, "cond": cond, "generator": generator, "max_new_tokens": settings.max_new_tokens, "temperature": job.temperature, "stop_after": stop_after}

    def performed_tags(self) -> list[str]:
        """The paralinguistic tags the model performs (none unless its tokenizer has them)."""
        return []

    def conditioning_reference(self, reference_24k: np.ndarray) -> np.ndarray:
        """The reference as this model conditions on it (checked, or prepared, first)."""
        return reference_24k

    def conditionals(self, reference_24k: np.ndarray) -> Conditionals:
        """The conditionals `prepare_conditionals` builds for this model, from samples instead
        of a file, returned instead of stored on the model; exaggeration is left at zero, for
        `with_exaggeration` to set per job (Turbo's T3 has no exaggeration input)."""
        model = self.model
        reference_24k = self.conditioning_reference(reference_24k)
        reference_16k = librosa.resample(reference_24k, orig_sr=S3GEN_SR, target_sr=S3_SR)
        gen = s3gen_reference(model.s3gen, reference_24k, model.device)
        prompt_tokens = None
        if prompt_len := model.t3.hp.speech_cond_prompt_len:
            prompt_tokens, _ = model.s3gen.tokenizer.forward([reference_16k[: model.ENC_COND_LEN]], max_len=prompt_len)
            prompt_tokens = torch.atleast_2d(prompt_tokens).to(model.device)
        speaker = torch.from_numpy(model.ve.embeds_from_wavs([reference_16k], sample_rate=S3_SR))
        t3_cond = T3Cond(
            speaker_emb=speaker.mean(axis=0, keepdim=True).to(model.device),
            cond_prompt_speech_tokens=prompt_tokens,
            emotion_adv=torch.zeros(1, 1, 1),
        ).to(device=model.device)
        return Conditionals(t3_cond, gen)

    def speech_to_render(self, speech: torch.Tensor) -> torch.Tensor:
        """The speech tokens S3Gen renders for decoded `speech` (the audio tokens alone)."""
        return speech

    def audio_tokens(self, speech_tokens: list[int]) -> torch.Tensor:
        """The tokens of decoded `speech_tokens` that S3Gen can say (start, stop and anything
        after the stop dropped), on the model's device."""
        speech = drop_invalid_tokens(torch.tensor(speech_tokens, dtype=torch.long))
        return speech[speech < SPEECH_VOCAB_SIZE].to(self.model.device)

    def flow_row(self, speech_tokens: list[int], gen: dict, seed: int) -> FlowRow | None:
        """What S3Gen's flow renders for decoded `speech_tokens` in voice `gen`, with its noise
        drawn from `seed` (None: nothing to say)."""
        speech = self.audio_tokens(speech_tokens)
        return seeded_row(self.speech_to_render(speech), gen, seed) if speech.numel() else None

    def render(self, speech_tokens: list[int], gen: dict, seed: int) -> np.ndarray:
        """The waveform of decoded tokens (before the watermark)."""
        row = self.flow_row(speech_tokens, gen, seed)
        if row is None:
            return np.zeros(0, dtype=np.float32)
        [audio] = render_rows(self.model.s3gen, [row], [seed])
        return audio

    # --- shared by the families whose T3 reads start and stop text tokens -------------

    def between_start_and_stop(self, tokens: torch.Tensor) -> torch.Tensor:
        """`tokens` (1 x N) wrapped in T3's start and stop text tokens, as one row."""
        hp = self.model.t3.hp
        tokens = tokens.to(self.model.device)
        return F.pad(F.pad(tokens, (1, 0), value=hp.start_text_token), (0, 1), value=hp.stop_text_token)[0]

