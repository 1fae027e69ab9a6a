"""Chatterbox-Turbo: a GPT-2 T3 without guidance, the 2-step meanflow S3Gen, paralinguistic
tags ([laugh], [cough], ...) that its tokenizer holds as added tokens.

Upstream's differences, kept: the reference is loudness-normalised and must be longer than
5 s, T3 is prompted with 15 s of it; the text is not wrapped in start and stop tokens; each
render ends with three frames of silence. Its random-weight tokenizer has GPT-2's byte-level
layout and size (50,257 ids, `<|endoftext|>` last), then the tags as added tokens, padded to
the 50,276 ids Turbo's T3 embeds.
"""

from __future__ import annotations

import numpy as np
import torch
from chatterbox import tts_turbo
from chatterbox.models.s3gen import S3GEN_SR
from chatterbox.models.s3gen.const import S3GEN_SIL
from chatterbox.models.t3 import T3
from chatterbox.models.t3.llama_configs import GPT2_MEDIUM_CONFIG, LLAMA_CONFIGS
from chatterbox.models.t3.modules.cond_enc import T3Cond
from chatterbox.models.t3.modules.t3_config import T3Config
from chatterbox.tts_turbo import ChatterboxTurboTTS
from tokenizers import Tokenizer, decoders, pre_tokenizers
from tokenizers.models import BPE
from transformers import PreTrainedTokenizerFast

from config import TTSSettings
from config.settings import S3GenSize
from contract.runner_jobs import TTSJob
from models.families.base import ModelFamily, ReferenceTooShortError
from models.random_weights import build_random_s3gen, on_device, seeded
from models.t3_batch import TurboDecodeRequest
from text.script import DOCUMENTED_TAGS

TURBO_LOUDNESS_LUFS = -27.0
# The tags Resemble documents for Turbo; a real checkpoint's list is read from its tokenizer.
TURBO_TAGS = list(DOCUMENTED_TAGS)  # the random tokenizer has the tags the real one has
GPT2_VOCAB_SIZE = 50_257
TURBO_TEXT_VOCAB_SIZE = 50_276
SILENCE_FRAMES = 3  # upstream appends them to every render


def small_turbo_config(num_layers: int) -> T3Config:
    """Turbo's T3 layout, as `ChatterboxTurboTTS.from_local` builds it, with fewer GPT-2 layers."""
    name = f"GPT2_medium_{num_layers}_layers"
    LLAMA_CONFIGS.setdefault(name, {**GPT2_MEDIUM_CONFIG, "n_layer": num_layers})
    config = T3Config(text_tokens_dict_size=TURBO_TEXT_VOCAB_SIZE)
    config.llama_config_name = name
    config.speech_tokens_dict_size = 6563
    config.input_pos_emb = None
    config.speech_cond_prompt_len = 375
    config.use_perceiver_resampler = False
    config.emotion_adv = False
    return config


def turbo_tokenizer() -> PreTrainedTokenizerFast:
    """GPT-2's byte-level pre-tokenizer and id layout without its merges: every byte is a
    token, the rest of the 50,257 ids are placeholders, then the tags."""
    byte_symbols = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {symbol: index for index, symbol in enumerate(byte_symbols)}
    vocab |= {f"<|placeholder_{index}|>": index for index in range(len(vocab), GPT2_VOCAB_SIZE - 1)}
    vocab["<|endoftext|>"] = GPT2_VOCAB_SIZE - 1
    tokenizer = Tokenizer(BPE(vocab=vocab, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    padding = [f"<|added_{index}|>" for index in range(TURBO_TEXT_VOCAB_SIZE - GPT2_VOCAB_SIZE - len(TURBO_TAGS))]
    tokenizer.add_tokens(TURBO_TAGS)
    tokenizer.add_special_tokens(padding)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|endoftext|>", bos_token="<|endoftext|>", unk_token="<|endoftext|>")
    fast.pad_token = fast.eos_token  # as upstream sets it
    assert len(fast) == TURBO_TEXT_VOCAB_SIZE
    return fast


class TurboFamily(ModelFamily):
    name = "turbo"
    upstream = ChatterboxTurboTTS

    @classmethod
    def build_random(cls, seed: int, t3_layers: int, s3gen_size: S3GenSize, device: str) -> ChatterboxTurboTTS:
        config = small_turbo_config(t3_layers)
        t3 = seeded(seed + 4, lambda: T3(config))
        del t3.tfmr.wte  # as upstream loads it: T3 feeds embeddings, never GPT-2's token ids
        t3, s3gen, voice_encoder = on_device(seed, device, t3, build_random_s3gen(seed + 5, s3gen_size, meanflow=True))
        return ChatterboxTurboTTS(t3, s3gen, voice_encoder, turbo_tokenizer(), device)

    def conditioning_reference(self, reference_24k: np.ndarray) -> np.ndarray:
        """Upstream refuses short references (an assert there, a 400 here) and normalises loudness."""
        seconds, needed = len(reference_24k) / S3GEN_SR, self.facts().min_reference_seconds
        if seconds <= needed:
            raise ReferenceTooShortError(f"the voice's reference is {seconds:.1f} s long; the turbo model needs more than {needed:g} s")
        return np.asarray(self.model.norm_loudness(reference_24k, S3GEN_SR, TURBO_LOUDNESS_LUFS), dtype=np.float32)

    def text_tokens(self, text: str, language: str | None) -> torch.Tensor:
        return self.model.tokenizer(tts_turbo.punc_norm(text), return_tensors="pt").input_ids[0].to(self.model.device)

    def decode_request(self, job: TTSJob, tokens: torch.Tensor, cond: T3Cond, settings: TTSSettings, stop_after: int | None) -> TurboDecodeRequest:
        """One row, upstream's Turbo sampling (top-k 1000, top-p 0.95, repetition penalty 1.2)."""
        return TurboDecodeRequest(**self.request_basics(job, tokens, cond, settings, stop_after), top_k=1000, top_p=0.95, repetition_penalty=1.2)

    def performed_tags(self) -> list[str]:
        """The tags Turbo's tokenizer has as added tokens (`[laugh]`, `[clear throat]`, ...)."""
        return sorted(token for token in self.model.tokenizer.get_added_vocab() if token.startswith("[") and token.endswith("]"))

    def speech_to_render(self, speech: torch.Tensor) -> torch.Tensor:
        return torch.cat([speech, torch.tensor([S3GEN_SIL] * SILENCE_FRAMES, dtype=torch.long, device=self.model.device)])


FAMILY = TurboFamily
