"""What a concatenation request and a job record look like (the HTTP shapes; the work is in
`concat.pipeline` and `concat.job_queue`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from contract.formats import OutputFormat, check_sample_rate
from contract.parameters import Normalization
from voices.names import VoiceName

MAX_SILENCE_MS = 600_000


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OutputInput(_Input):
    output: str = Field(description="A stored output's file name (see GET /api/v1/outputs).")


class VoiceInput(_Input):
    voice: VoiceName = Field(description="A library voice: its uploaded recording.")


class UploadInput(_Input):
    upload: str | int = Field(description="One of the files sent in `files`: its file name, or its position (0 is the first).")


class SilenceInput(_Input):
    silence_ms: int = Field(ge=1, le=MAX_SILENCE_MS, description="Silence of this length.")


INPUT_KINDS = ("output", "voice", "upload", "silence_ms")


def _input_kind(value: object) -> str | None:
    """Which kind of input this is, by the key it carries, so a bad value is reported for
    that kind alone (`inputs.voice`), not as a failure of every kind of the union."""
    if isinstance(value, dict):
        return next((kind for kind in INPUT_KINDS if kind in value), None)
    return {OutputInput: "output", VoiceInput: "voice", UploadInput: "upload", SilenceInput: "silence_ms"}.get(type(value))


ConcatInput = Annotated[
    Annotated[OutputInput, Tag("output")] | Annotated[VoiceInput, Tag("voice")] | Annotated[UploadInput, Tag("upload")] | Annotated[SilenceInput, Tag("silence_ms")],
    Discriminator(_input_kind, custom_error_type="input_kind", custom_error_message=f"each input needs one of: {', '.join(INPUT_KINDS)}"),
]


class ConcatRequest(BaseModel):
    """Unknown fields are rejected, so a typo is an error, not a silently ignored option."""

    model_config = ConfigDict(extra="forbid")

    inputs: list[ConcatInput] = Field(min_length=1, description="Segments: stored outputs, voices, uploads and silences, mixed.")
    order: list[int] | None = Field(None, description="The inputs' positions in the order to join them (each exactly once); omitted: as listed.")
    crossfade_ms: int = Field(0, ge=0, le=5000, description="Equal-power crossfade at every seam (each segment must be at least this long).")
    pause_ms: int = Field(0, ge=0, le=60_000, description="Silence between segments.")
    pause_jitter_ms: int = Field(0, ge=0, le=60_000, description="Each pause varies at random by up to this much either way (never below 0).")
    seed: int | None = Field(None, ge=0, le=2**32 - 1, description="Seed for the pause variation; omitted: random, recorded in the metadata.")
    trim_silence: bool = Field(False, description="Cut leading and trailing silence off every segment.")
    trim_threshold_db: float = Field(40.0, ge=10.0, le=90.0, description="With trim_silence: what is this far below the segment's peak is silence.")
    normalize: Normalization = Field("none", description="Level every segment: to a peak, an RMS level, or a loudness (LUFS, EBU R128 style).")
    target_peak_dbfs: float = Field(-1.0, ge=-60.0, le=0.0)
    target_rms_dbfs: float = Field(-20.0, ge=-60.0, le=0.0)
    target_lufs: float = Field(-16.0, ge=-70.0, le=-5.0)
    noise_reduction: bool = Field(False, description="Spectral-gating noise reduction (noisereduce) on every segment.")
    output_format: OutputFormat = OutputFormat.wav
    sample_rate: int | None = Field(None, description="Output sample rate (inputs are resampled and downmixed to mono); omitted: the configured one, else 24000.")
    response_mode: Literal["url", "stream"] = Field("url", description="For short jobs answered at once: JSON with the stored file, or the audio itself.")

    @field_validator("sample_rate")
    @classmethod
    def _known_rate(cls, rate: int | None) -> int | None:
        return check_sample_rate(rate)

    @model_validator(mode="after")
    def _order_is_a_permutation(self) -> ConcatRequest:
        if self.order is not None and sorted(self.order) != list(range(len(self.inputs))):
            raise ValueError(f"order must list every input position 0..{len(self.inputs) - 1} exactly once, got {self.order}")
        if self.pause_jitter_ms > self.pause_ms:
            raise ValueError("pause_jitter_ms cannot exceed pause_ms")
        return self

    @property
    def ordered_inputs(self) -> list[tuple[int, ConcatInput]]:
        """(position as listed, input) in joining order."""
        return [(i, self.inputs[i]) for i in (self.order if self.order is not None else range(len(self.inputs)))]

    @property
    def level_target(self) -> float:
        return {"peak": self.target_peak_dbfs, "rms": self.target_rms_dbfs, "loudness": self.target_lufs}.get(self.normalize, 0.0)


JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class JobProgress(BaseModel):
    segments_done: int = 0
    segments_total: int
    input_seconds: float = Field(description="Length of all inputs together (progress is measured in it).")
    percent: float = Field(0.0, description="Share of the input audio processed.")
    elapsed_seconds: float = 0.0
    eta_seconds: float | None = Field(None, description="Estimated time remaining (from the rate so far).")


class JobError(BaseModel):
    type: str
    message: str
    field: str | None = None


class JobRecord(BaseModel):
    """A row of the database's job queue, so any replica answers for a job any replica runs."""

    id: str
    type: Literal["concat"] = "concat"
    status: JobStatus
    created_at: datetime
    updated_at: datetime
    progress: JobProgress
    result_filename: str | None = None
    error: JobError | None = None
    cancel_requested: bool = False
    attempts: int = Field(0, description="How many times a replica started it: 2 or more when the replica running it stopped and another took it over (it starts again from the beginning).")
