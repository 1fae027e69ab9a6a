"""Generation parameters: their bounds and defaults, in one place.

`/api/v1/tts`, OpenAI's `/v1/audio/speech` and a voice's stored defaults all take the same
parameters; each declares its fields with these types, so a bound changed here changes
everywhere (and in the OpenAPI document) at once.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

Normalization = Literal["none", "peak", "rms", "loudness"]  # how a concatenation levels its segments (audio.levels)

MIN_SPEED = 0.25  # OpenAI's speech API range
MAX_SPEED = 4.0
DEFAULT_EXAGGERATION = 0.5
DEFAULT_CFG_WEIGHT = 0.5
DEFAULT_TEMPERATURE = 0.8

Exaggeration = Annotated[float, Field(ge=0.25, le=2.0)]
CFGWeight = Annotated[float, Field(ge=0.0, le=1.0)]
Temperature = Annotated[float, Field(ge=0.05, le=5.0)]
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]
SpeedFactor = Annotated[float, Field(ge=MIN_SPEED, le=MAX_SPEED)]
