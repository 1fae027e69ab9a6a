"""What each Chatterbox model does differently around T3 and S3Gen, as upstream's
`generate()` does it for that model, minus the per-request state it keeps on the model:

- text: each model's punctuation cleanup and tokenizer (Multilingual adds its language's
  preparation and token; the guided T3s wrap the text in start/stop tokens, Turbo does not);
- conditioning: the original and Multilingual prompt T3 with 6 s of the reference; Turbo
  normalises the reference's loudness, prompts with 15 s and refuses references under 5 s;
- decoding: guided rows (CFG, min-p) or Turbo's single row (top-k, top-p), with each model's
  upstream sampling defaults;
- rendering: S3Gen's 10 flow steps, or Turbo's meanflow S3Gen (2 steps) with three frames of
  silence appended, as upstream does.
"""

from __future__ import annotations

import librosa
import numpy as np
import torch
import torch.nn.functional as F
from chatterbox import mtl_tts, tts, tts_turbo
from chatterbox.models.s3gen import S3GEN_SR
from chatterbox.models.s3gen.const import S3GEN_SIL
from chatterbox.models.s3tokenizer import S3_SR, drop_invalid_tokens
from chatterbox.models.t3.modules.cond_enc import T3Cond
from chatterbox.tts import Conditionals

from config import TTSSettings
from models.conditioning import s3gen_reference
from models.jobs import ClientFaultError, TTSJob
from models.loader import TTSModel
from models.t3_batch import DecodeRequest, TurboDecodeRequest
from voices.quality import TURBO_MIN_SECONDS

SPEECH_VOCAB_SIZE = 6561  # ids at or above are T3's start/stop tokens, never audio
TURBO_LOUDNESS_LUFS = -27.0


class ReferenceTooShortError(ClientFaultError):
    """The voice's reference is shorter than this model takes."""


def conditionals(model: TTSModel, reference_24k: np.ndarray) -> Conditionals:
    """The conditionals `prepare_conditionals` builds for this model, from samples instead
    of a file, returned instead of stored on the model; exaggeration is left at zero, for
    `with_exaggeration` to set per job (Turbo's T3 has no exaggeration input)."""
    prompt_samples = model.ENC_COND_LEN
    if isinstance(model, tts_turbo.ChatterboxTurboTTS):
        seconds = len(reference_24k) / S3GEN_SR
        if seconds <= TURBO_MIN_SECONDS:
            raise ReferenceTooShortError(f"the voice's reference is {seconds:.1f} s long; the turbo model needs more than {TURBO_MIN_SECONDS:g} s")
        reference_24k = np.asarray(model.norm_loudness(reference_24k, S3GEN_SR, TURBO_LOUDNESS_LUFS), dtype=np.float32)
    reference_16k = librosa.resample(reference_24k, orig_sr=S3GEN_SR, target_sr=S3_SR)
    gen = s3gen_reference(model.s3gen, reference_24k, model.device)
    prompt_tokens = None
    if prompt_len := model.t3.hp.speech_cond_prompt_len:
        prompt_tokens, _ = model.s3gen.tokenizer.forward([reference_16k[:prompt_samples]], max_len=prompt_len)
        prompt_tokens = torch.atleast_2d(prompt_tokens).to(model.device)
    speaker = torch.from_numpy(model.ve.embeds_from_wavs([reference_16k], sample_rate=S3_SR))
    t3_cond = T3Cond(
        speaker_emb=speaker.mean(axis=0, keepdim=True).to(model.device),
        cond_prompt_speech_tokens=prompt_tokens,
        emotion_adv=torch.zeros(1, 1, 1),
    ).to(device=model.device)
    return Conditionals(t3_cond, gen)


def text_tokens(model: TTSModel, text: str, language: str | None) -> torch.Tensor:
    """The 1-D token ids T3 reads for `text`, as upstream's `generate()` prepares them."""
    if isinstance(model, tts_turbo.ChatterboxTurboTTS):
        return model.tokenizer(tts_turbo.punc_norm(text), return_tensors="pt").input_ids[0].to(model.device)
    if isinstance(model, mtl_tts.ChatterboxMultilingualTTS):
        tokens = model.tokenizer.text_to_tokens(mtl_tts.punc_norm(text), language_id=(language or "en").lower())
    else:
        tokens = model.tokenizer.text_to_tokens(tts.punc_norm(text))
    tokens = tokens.to(model.device)
    hp = model.t3.hp
    return F.pad(F.pad(tokens, (1, 0), value=hp.start_text_token), (0, 1), value=hp.stop_text_token)[0]


def decode_request(
    model: TTSModel, job: TTSJob, tokens: torch.Tensor, cond: T3Cond, settings: TTSSettings, stop_after: int | None
) -> DecodeRequest | TurboDecodeRequest:
    """The job as its model's decoder takes it, with each model's upstream defaults for what
    the job does not set (the original's come from `tts.*` settings)."""
    generator = torch.Generator(device=model.device).manual_seed(job.seed)
    common = {"text_tokens": tokens, "cond": cond, "generator": generator, "max_new_tokens": settings.max_new_tokens, "temperature": job.temperature, "stop_after": stop_after}
    if isinstance(model, tts_turbo.ChatterboxTurboTTS):
        return TurboDecodeRequest(**common, top_k=1000, top_p=0.95, repetition_penalty=1.2)
    if isinstance(model, mtl_tts.ChatterboxMultilingualTTS):
        return DecodeRequest(**common, cfg_weight=job.cfg_weight, top_p=1.0, min_p=0.05, repetition_penalty=2.0)
    return DecodeRequest(**common, cfg_weight=job.cfg_weight, top_p=settings.top_p, min_p=settings.min_p, repetition_penalty=settings.repetition_penalty)


def performed_tags(model: TTSModel) -> list[str]:
    """The tags Turbo's tokenizer has as added tokens (`[laugh]`, `[clear throat]`, ...)."""
    if not isinstance(model, tts_turbo.ChatterboxTurboTTS):
        return []
    return sorted(token for token in model.tokenizer.get_added_vocab() if token.startswith("[") and token.endswith("]"))


def render(model: TTSModel, speech_tokens: list[int], gen: dict) -> np.ndarray:
    """The waveform of decoded tokens (before the watermark); S3Gen's noise comes from the
    global generator, which the caller seeds."""
    speech = drop_invalid_tokens(torch.tensor(speech_tokens, dtype=torch.long))
    speech = speech[speech < SPEECH_VOCAB_SIZE].to(model.device)
    if speech.numel() == 0:
        return np.zeros(0, dtype=np.float32)
    if isinstance(model, tts_turbo.ChatterboxTurboTTS):
        speech = torch.cat([speech, torch.tensor([S3GEN_SIL] * 3, dtype=torch.long, device=model.device)])
    wav, _ = model.s3gen.inference(speech_tokens=speech, ref_dict=gen)
    return wav.squeeze(0).detach().cpu().numpy().astype(np.float32)
