"""The original Chatterbox: Llama T3 with classifier-free guidance, English only."""

from __future__ import annotations

import torch
from chatterbox import tts
from chatterbox.models.t3 import T3
from chatterbox.models.t3.modules.cond_enc import T3Cond
from chatterbox.models.tokenizers import EnTokenizer
from chatterbox.tts import ChatterboxTTS

from config import TTSSettings
from config.settings import S3GenSize
from contract.runner_jobs import TTSJob
from models.families.base import ModelFamily
from models.random_tokenizers import grapheme_tokenizer, save_and_load
from models.random_weights import build_random_s3gen, on_device, seeded, small_t3_config
from models.t3_batch import DecodeRequest


class OriginalFamily(ModelFamily):
    name = "original"
    upstream = ChatterboxTTS

    @classmethod
    def build_random(cls, seed: int, t3_layers: int, s3gen_size: S3GenSize, device: str) -> ChatterboxTTS:
        config = small_t3_config(t3_layers)
        t3, s3gen, voice_encoder = on_device(seed, device, seeded(seed, lambda: T3(config)), build_random_s3gen(seed, s3gen_size))
        return ChatterboxTTS(t3, s3gen, voice_encoder, save_and_load(grapheme_tokenizer(config, []), EnTokenizer), device)

    def text_tokens(self, text: str, language: str | None) -> torch.Tensor:
        return self.between_start_and_stop(self.model.tokenizer.text_to_tokens(tts.punc_norm(text)))

    def decode_request(self, job: TTSJob, tokens: torch.Tensor, cond: T3Cond, settings: TTSSettings, stop_after: int | None) -> DecodeRequest:
        """Guided rows; sampling from the `tts.*` settings where the job sets nothing."""
        return DecodeRequest(
            **self.request_basics(job, tokens, cond, settings, stop_after),
            cfg_weight=job.cfg_weight, top_p=settings.top_p, min_p=settings.min_p, repetition_penalty=settings.repetition_penalty,
        )


FAMILY = OriginalFamily
