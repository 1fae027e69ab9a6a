"""The API's request and response models, generated from docs/openapi.yaml by
scripts/generate_client_models.py: do not edit."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from typing_extensions import TypeAliasType


class AudioFacts(BaseModel):
    duration_seconds: Annotated[float, Field(title='Duration Seconds')]
    sample_rate: Annotated[int, Field(title='Sample Rate')]
    channels: Annotated[int, Field(title='Channels')]
    format: Annotated[str, Field(title='Format')]
    loudness_lufs: Annotated[float | None, Field(title='Loudness Lufs')]
    peak_dbfs: Annotated[float, Field(title='Peak Dbfs')]
    clipping_ratio: Annotated[float, Field(title='Clipping Ratio')]
    silence_ratio: Annotated[float, Field(title='Silence Ratio')]
    longest_silence_seconds: Annotated[float, Field(title='Longest Silence Seconds')]
    snr_db: Annotated[float, Field(title='Snr Db')]


class BodyBulkUploadVoicesApiV1VoicesBulkPost(BaseModel):
    files: Annotated[
        list[str] | None,
        Field(
            description='Audio files; each becomes a voice named after the file.',
            title='Files',
        ),
    ] = []
    archive: Annotated[
        str | None,
        Field(
            description='Or a zip of audio files; its subfolders become folders.',
            title='Archive',
        ),
    ] = None
    folder: Annotated[
        str | None,
        Field(
            description='Folder for every voice (zip subfolders go below it).',
            title='Folder',
        ),
    ] = ''
    tags: Annotated[
        list[str] | None, Field(description='Tags for every voice.', title='Tags')
    ] = None
    overwrite: Annotated[
        bool | None,
        Field(
            description='Replace voices that already exist (otherwise they fail with 409).',
            title='Overwrite',
        ),
    ] = False


class BodyImportVoicesApiV1VoicesImportPost(BaseModel):
    archive: Annotated[
        str,
        Field(
            description='A zip made by GET /api/v1/voices/export.',
            json_schema_extra={'contentMediaType': 'application/octet-stream'},
            title='Archive',
        ),
    ]
    on_conflict: Annotated[
        Literal['skip', 'overwrite', 'rename'] | None,
        Field(
            description='When a voice of that name exists: skip it, overwrite it, or import under a new name.',
            title='On Conflict',
        ),
    ] = 'skip'


class BodyUploadVoiceApiV1VoicePost(BaseModel):
    name: Annotated[
        str,
        Field(
            description='Voice name used by `voice` in TTS (unique ignoring case).',
            title='Name',
        ),
    ]
    file: Annotated[
        str | None,
        Field(
            description='Voice reference: wav, mp3, flac, ogg/opus or m4a, 1 s or longer. Omit to update metadata only.',
            title='File',
        ),
    ] = None
    overwrite: Annotated[
        bool | None,
        Field(
            description='Replace the audio of an existing voice of the same name.',
            title='Overwrite',
        ),
    ] = False
    display_name: Annotated[str | None, Field(title='Display Name')] = None
    description: Annotated[str | None, Field(title='Description')] = None
    tags: Annotated[
        list[str] | None,
        Field(
            description='Repeat the field, or separate tags with commas.', title='Tags'
        ),
    ] = None
    folder: Annotated[
        str | None,
        Field(
            description="Folder path such as `narrators/en`; '' is the top level.",
            title='Folder',
        ),
    ] = None
    exaggeration: Annotated[
        float | None,
        Field(description='Default exaggeration for this voice.', title='Exaggeration'),
    ] = None
    cfg_weight: Annotated[
        float | None,
        Field(description='Default cfg_weight for this voice.', title='Cfg Weight'),
    ] = None
    temperature: Annotated[
        float | None,
        Field(description='Default temperature for this voice.', title='Temperature'),
    ] = None
    speed_factor: Annotated[
        float | None,
        Field(description='Default speed factor for this voice.', title='Speed Factor'),
    ] = None
    language: Annotated[
        str | None,
        Field(
            description='Default language (ISO 639-1) for the multilingual model with this voice.',
            title='Language',
        ),
    ] = None


class DatabaseHealth(BaseModel):
    engine: Annotated[
        Literal['sqlite', 'postgresql'],
        Field(
            description='Where the metadata lives: SQLite (the default, one replica) or PostgreSQL (`DATABASE_URL`).',
            title='Engine',
        ),
    ]
    ready: Annotated[
        bool,
        Field(
            description="The database answers and is migrated to this version's schema; until then reads and writes answer 503 database_unavailable.",
            title='Ready',
        ),
    ]
    migration: Annotated[
        str,
        Field(
            description='The newest migration this version knows (the database is at it when ready).',
            title='Migration',
        ),
    ]
    error: Annotated[str | None, Field(title='Error')] = None


class DeletedVoices(BaseModel):
    deleted: Annotated[list[str], Field(title='Deleted')]
    count: Annotated[int, Field(title='Count')]


class ErrorDetail(BaseModel):
    type: Annotated[str, Field(title='Type')]
    message: Annotated[str, Field(title='Message')]
    field: Annotated[str | None, Field(title='Field')] = None
    request_id: Annotated[
        str | None,
        Field(
            description="Also in the `X-Request-ID` header and the service's log line for this failure: quote it when reporting a problem.",
            title='Request Id',
        ),
    ] = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


class FolderNode(BaseModel):
    path: Annotated[str, Field(title='Path')]
    name: Annotated[str, Field(title='Name')]
    voice_count: Annotated[int, Field(title='Voice Count')]
    total_count: Annotated[int, Field(title='Total Count')]
    children: Annotated[
        list[FolderNode] | None, Field(title='Children', validate_default=True)
    ] = []


class FolderUsage(BaseModel):
    folder: Annotated[str, Field(title='Folder')]
    voices: Annotated[int, Field(title='Voices')]
    uses: Annotated[int, Field(title='Uses')]
    never_used: Annotated[int, Field(title='Never Used')]


class GenerationsHealth(BaseModel):
    in_flight: Annotated[
        int,
        Field(
            description='TTS/VC requests this replica is generating (or streaming) now; each holds a slot until its last byte is sent.',
            title='In Flight',
        ),
    ]
    limit: Annotated[
        int,
        Field(
            description='limits.max_pending_generations: a request beyond it gets 429 (0: no limit).',
            title='Limit',
        ),
    ]


class ImportResult(BaseModel):
    name: Annotated[str, Field(title='Name')]
    status: Annotated[
        Literal['imported', 'overwritten', 'renamed', 'skipped', 'failed'],
        Field(title='Status'),
    ]
    imported_as: Annotated[str | None, Field(title='Imported As')] = None
    error: Annotated[str | None, Field(title='Error')] = None


class JobError(BaseModel):
    type: Annotated[str, Field(title='Type')]
    message: Annotated[str, Field(title='Message')]
    field: Annotated[str | None, Field(title='Field')] = None


class JobProgress(BaseModel):
    segments_done: Annotated[int | None, Field(title='Segments Done')] = 0
    segments_total: Annotated[int, Field(title='Segments Total')]
    input_seconds: Annotated[
        float,
        Field(
            description='Length of all inputs together (progress is measured in it).',
            title='Input Seconds',
        ),
    ]
    percent: Annotated[
        float | None,
        Field(description='Share of the input audio processed.', title='Percent'),
    ] = 0.0
    elapsed_seconds: Annotated[float | None, Field(title='Elapsed Seconds')] = 0.0
    eta_seconds: Annotated[
        float | None,
        Field(
            description='Estimated time remaining (from the rate so far).',
            title='Eta Seconds',
        ),
    ] = None


class ModelHealth(BaseModel):
    ready: Annotated[bool, Field(title='Ready')]
    model: Annotated[
        str | None,
        Field(
            description="The Chatterbox model the runner serves: original, multilingual or turbo (VC runs the original's S3Gen).",
            title='Model',
        ),
    ] = None
    source: Annotated[str | None, Field(title='Source')] = None
    device: Annotated[str | None, Field(title='Device')] = None
    dtype: Annotated[
        str | None,
        Field(
            description="What T3 and S3Gen's flow compute in: float32, bfloat16 or float16 (`model.dtype`).",
            title='Dtype',
        ),
    ] = None
    has_default_voice: Annotated[bool | None, Field(title='Has Default Voice')] = None
    tags: Annotated[
        list[str] | None,
        Field(
            description='The paralinguistic tags the model performs in the text (turbo; empty for the others).',
            title='Tags',
        ),
    ] = None
    languages: Annotated[
        dict[str, str] | None,
        Field(
            description='The languages it speaks: ISO 639-1 code -> English name (what `language` accepts).',
            title='Languages',
        ),
    ] = None
    guidance: Annotated[
        bool | None,
        Field(
            description='Whether it honours exaggeration and cfg_weight (turbo ignores them).',
            title='Guidance',
        ),
    ] = None
    conditioning_cache_entries: Annotated[
        int | None, Field(title='Conditioning Cache Entries')
    ] = None
    conditioning_cache_hits: Annotated[
        int | None, Field(title='Conditioning Cache Hits')
    ] = None
    conditioning_cache_misses: Annotated[
        int | None, Field(title='Conditioning Cache Misses')
    ] = None
    conditioning_cache_hit_rate: Annotated[
        float | None,
        Field(
            description='hits / (hits + misses) since the runner started; None before the first lookup.',
            title='Conditioning Cache Hit Rate',
        ),
    ] = None
    references_from_storage: Annotated[
        int | None,
        Field(
            description='Voice references the runner read from storage itself (conditioning-cache misses).',
            title='References From Storage',
        ),
    ] = None
    references_sent: Annotated[
        int | None,
        Field(
            description='Voice references the API had to send to the runner (voices not in storage, or unreadable there).',
            title='References Sent',
        ),
    ] = None
    jobs_done: Annotated[
        int | None,
        Field(
            description='Jobs the runner finished since it started.', title='Jobs Done'
        ),
    ] = None
    decoding_jobs: Annotated[
        int | None,
        Field(
            description="Text chunks in the model's continuous T3 loop now (at most runner.max_batch_size); None for VC.",
            title='Decoding Jobs',
        ),
    ] = None
    queued_jobs: Annotated[
        int | None,
        Field(
            description='Text chunks waiting to join the T3 loop at its next step; None for VC.',
            title='Queued Jobs',
        ),
    ] = None
    kv_cache: Annotated[
        str | None,
        Field(
            description='Where the T3 loop keeps its keys and values: static (allocated once) or dynamic (`model.kv_cache`); None for VC.',
            title='Kv Cache',
        ),
    ] = None
    cuda_graphs: Annotated[
        bool | None,
        Field(
            description="Whether T3's decode steps replay as captured CUDA graphs (`model.cuda_graphs` on cuda, and no capture failed); None for VC.",
            title='Cuda Graphs',
        ),
    ] = None
    memory_rss_bytes: Annotated[
        int | None,
        Field(
            description='Resident memory of the runner process.',
            title='Memory Rss Bytes',
        ),
    ] = None
    gpu_memory_allocated_bytes: Annotated[
        int | None,
        Field(
            description="GPU memory PyTorch holds now on the model's device (None when the model runs on the CPU).",
            title='Gpu Memory Allocated Bytes',
        ),
    ] = None
    gpu_memory_peak_bytes: Annotated[
        int | None,
        Field(
            description='Most GPU memory PyTorch held since the runner started.',
            title='Gpu Memory Peak Bytes',
        ),
    ] = None
    error: Annotated[str | None, Field(title='Error')] = None


class ModelObject(BaseModel):
    id: Annotated[str, Field(title='Id')]
    object: Annotated[Literal['model'], Field(title='Object')] = 'model'
    created: Annotated[
        int,
        Field(
            description="Unix time; the same for every model (the service's release).",
            title='Created',
        ),
    ]
    owned_by: Annotated[str | None, Field(title='Owned By')] = 'chatterbox'
    root: Annotated[
        str,
        Field(
            description="The Chatterbox model this name runs: original, multilingual or turbo (as vLLM's model cards name theirs).",
            title='Root',
        ),
    ]


class OpenAIErrorDetail(BaseModel):
    message: Annotated[str, Field(title='Message')]
    type: Annotated[str, Field(title='Type')]
    param: Annotated[str | None, Field(title='Param')] = None
    code: Annotated[str | None, Field(title='Code')] = None


class OpenAIErrorResponse(BaseModel):
    error: OpenAIErrorDetail


class OutputLookupRequest(BaseModel):
    model_config = ConfigDict(
        extra='forbid',
    )
    names: Annotated[
        list[str],
        Field(
            description='Output file names.',
            max_length=1000,
            min_length=1,
            title='Names',
        ),
    ]


class OutputMetadata(BaseModel):
    schema_version: Annotated[int | None, Field(title='Schema Version')] = 1
    filename: Annotated[str, Field(title='Filename')]
    type: Annotated[Literal['tts', 'vc', 'concat'], Field(title='Type')]
    created_at: Annotated[AwareDatetime, Field(title='Created At')]
    format: Annotated[str, Field(title='Format')]
    content_type: Annotated[str, Field(title='Content Type')]
    sample_rate: Annotated[int, Field(title='Sample Rate')]
    duration_seconds: Annotated[float, Field(title='Duration Seconds')]
    size_bytes: Annotated[int, Field(title='Size Bytes')]
    generation_seconds: Annotated[float, Field(title='Generation Seconds')]
    model_source: Annotated[str, Field(title='Model Source')]
    voice: Annotated[str | None, Field(title='Voice')]
    parameters: Annotated[dict[str, Any], Field(title='Parameters')]


class OutputResponse(BaseModel):
    filename: Annotated[str, Field(title='Filename')]
    url: Annotated[str, Field(title='Url')]
    metadata: OutputMetadata


Instructions = TypeAliasType(
    "Instructions",
    Annotated[
        str,
        Field(
            description="Accepted and recorded in the output's metadata; Chatterbox has no prompt for delivery: use `exaggeration`.",
            max_length=4096,
            title='Instructions',
        ),
    ],
)


Speed = TypeAliasType(
    "Speed",
    Annotated[
        float,
        Field(
            description="0.25..4.0, pitch kept; omitted: the voice's default, else 1.0.",
            ge=0.25,
            le=4.0,
            title='Speed',
        ),
    ],
)


Exaggeration = TypeAliasType(
    "Exaggeration",
    Annotated[
        float,
        Field(
            description="Chatterbox extension: emotion intensity; omitted: the voice's default, else 0.5.",
            ge=0.25,
            le=2.0,
            title='Exaggeration',
        ),
    ],
)


CfgWeight = TypeAliasType(
    "CfgWeight",
    Annotated[
        float,
        Field(
            description='Chatterbox extension: classifier-free guidance weight.',
            ge=0.0,
            le=1.0,
            title='Cfg Weight',
        ),
    ],
)


Temperature = TypeAliasType(
    "Temperature",
    Annotated[
        float,
        Field(
            description='Chatterbox extension: sampling temperature.',
            ge=0.05,
            le=5.0,
            title='Temperature',
        ),
    ],
)


Seed = TypeAliasType(
    "Seed",
    Annotated[
        int,
        Field(
            description='Chatterbox extension: same seed, same audio.',
            ge=0,
            le=4294967295,
            title='Seed',
        ),
    ],
)


Language = TypeAliasType(
    "Language",
    Annotated[
        str,
        Field(
            description='Chatterbox extension: ISO 639-1 language of `input` (chatterbox-multilingual speaks 23); omitted: en.',
            pattern='^[a-z]{2}$',
            title='Language',
        ),
    ],
)


class StorageHealth(BaseModel):
    backend: Annotated[str, Field(title='Backend')]
    ready: Annotated[bool, Field(title='Ready')]
    error: Annotated[str | None, Field(title='Error')] = None


Language1 = TypeAliasType(
    "Language1",
    Annotated[
        str,
        Field(
            description="ISO 639-1 code of the text's language: the multilingual model speaks 23, the others `en` only; omitted: `en`.",
            pattern='^[a-z]{2}$',
            title='Language',
        ),
    ],
)


Exaggeration1 = TypeAliasType(
    "Exaggeration1",
    Annotated[
        float,
        Field(
            description="Emotion intensity; omitted: the voice's default, else 0.5 (neutral).",
            ge=0.25,
            le=2.0,
            title='Exaggeration',
        ),
    ],
)


CfgWeight1 = TypeAliasType(
    "CfgWeight1",
    Annotated[
        float,
        Field(
            description="Classifier-free guidance weight (pace/adherence); omitted: the voice's default, else 0.5.",
            ge=0.0,
            le=1.0,
            title='Cfg Weight',
        ),
    ],
)


Temperature1 = TypeAliasType(
    "Temperature1",
    Annotated[
        float,
        Field(
            description="Sampling temperature; omitted: the voice's default, else 0.8.",
            ge=0.05,
            le=5.0,
            title='Temperature',
        ),
    ],
)


Seed1 = TypeAliasType(
    "Seed1",
    Annotated[
        int,
        Field(
            description='Same seed, same audio; omitted: a random seed, recorded in the metadata.',
            ge=0,
            le=4294967295,
            title='Seed',
        ),
    ],
)


SpeedFactor = TypeAliasType(
    "SpeedFactor",
    Annotated[
        float,
        Field(
            description="Speak faster (>1) or slower (<1) at the same pitch; omitted: the voice's default, else the configured one (1.0).",
            ge=0.25,
            le=4.0,
            title='Speed Factor',
        ),
    ],
)


class TTSRequest(BaseModel):
    model_config = ConfigDict(
        extra='forbid',
    )
    model: Annotated[
        Literal['original', 'multilingual', 'turbo'] | None,
        Field(
            description='`original`, `multilingual` or `turbo`, of those the deployment enables (see /api/v1/health); omitted: the configured default.',
            title='Model',
        ),
    ] = None
    language: Annotated[
        Language1 | None,
        Field(
            description="ISO 639-1 code of the text's language: the multilingual model speaks 23, the others `en` only; omitted: `en`.",
            title='Language',
        ),
    ] = None
    voice: Annotated[
        str | None,
        Field(
            description="A voice name from the library; omitted: the model's built-in voice.",
            title='Voice',
        ),
    ] = None
    exaggeration: Annotated[
        Exaggeration1 | None,
        Field(
            description="Emotion intensity; omitted: the voice's default, else 0.5 (neutral).",
            title='Exaggeration',
        ),
    ] = None
    cfg_weight: Annotated[
        CfgWeight1 | None,
        Field(
            description="Classifier-free guidance weight (pace/adherence); omitted: the voice's default, else 0.5.",
            title='Cfg Weight',
        ),
    ] = None
    temperature: Annotated[
        Temperature1 | None,
        Field(
            description="Sampling temperature; omitted: the voice's default, else 0.8.",
            title='Temperature',
        ),
    ] = None
    seed: Annotated[
        Seed1 | None,
        Field(
            description='Same seed, same audio; omitted: a random seed, recorded in the metadata.',
            title='Seed',
        ),
    ] = None
    speed_factor: Annotated[
        SpeedFactor | None,
        Field(
            description="Speak faster (>1) or slower (<1) at the same pitch; omitted: the voice's default, else the configured one (1.0).",
            title='Speed Factor',
        ),
    ] = None
    speed_factor_library: Annotated[
        Literal['auto', 'audiostretchy', 'librosa', 'torchaudio'] | None,
        Field(
            description='Time-stretcher: `auto` tries audiostretchy, librosa, torchaudio in turn; omitted: the configured one.',
            title='Speed Factor Library',
        ),
    ] = None
    sample_rate: Annotated[
        int | None,
        Field(
            description="Output sample rate, one of 8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000; omitted: the configured one, else the model's 24000.",
            title='Sample Rate',
        ),
    ] = None
    text: Annotated[
        str,
        Field(
            description="Text to speak; long text is split at sentence ends (in the request's language). `[pause:750ms]` / `[pause:1.5s]` insert silence (any model); tags such as `[laugh]` are performed by the turbo model (an unknown tag is a 400) and removed by the others (listed in the X-Tags-Removed header).",
            max_length=10000,
            min_length=1,
            title='Text',
        ),
    ]
    output_format: Annotated[
        Literal['wav', 'mp3', 'opus', 'aac', 'flac', 'pcm'] | None,
        Field(title='OutputFormat'),
    ] = 'wav'
    response_mode: Annotated[
        Literal['url', 'stream'] | None,
        Field(
            description='`url`: JSON with the stored file; `stream`: the audio itself.',
            title='Response Mode',
        ),
    ] = 'url'
    stream_chunks: Annotated[
        bool | None,
        Field(
            description='With response_mode=stream: send the audio as it is generated, each sentence group in windows (first bytes after about a second of speech is decoded); stored when complete.',
            title='Stream Chunks',
        ),
    ] = False


class ValidationError(BaseModel):
    loc: Annotated[list[str | int], Field(title='Location')]
    msg: Annotated[str, Field(title='Message')]
    type: Annotated[str, Field(title='Error Type')]
    input: Annotated[Any | None, Field(title='Input')] = None
    ctx: Annotated[dict[str, Any] | None, Field(title='Context')] = None


Exaggeration2 = TypeAliasType(
    "Exaggeration2", Annotated[float, Field(ge=0.25, le=2.0, title='Exaggeration')]
)


CfgWeight2 = TypeAliasType(
    "CfgWeight2", Annotated[float, Field(ge=0.0, le=1.0, title='Cfg Weight')]
)


Temperature2 = TypeAliasType(
    "Temperature2", Annotated[float, Field(ge=0.05, le=5.0, title='Temperature')]
)


SpeedFactor1 = TypeAliasType(
    "SpeedFactor1", Annotated[float, Field(ge=0.25, le=4.0, title='Speed Factor')]
)


class VoiceDefaults(BaseModel):
    model_config = ConfigDict(
        extra='forbid',
    )
    exaggeration: Annotated[Exaggeration2 | None, Field(title='Exaggeration')] = None
    cfg_weight: Annotated[CfgWeight2 | None, Field(title='Cfg Weight')] = None
    temperature: Annotated[Temperature2 | None, Field(title='Temperature')] = None
    speed_factor: Annotated[SpeedFactor1 | None, Field(title='Speed Factor')] = None
    language: Annotated[
        str | None,
        Field(
            description='ISO 639-1: what the multilingual model speaks with this voice when a request names no language.',
            title='Language',
        ),
    ] = None


class VoiceEntry(BaseModel):
    id: Annotated[str, Field(description='What to send as `voice`.', title='Id')]
    name: Annotated[str, Field(title='Name')]
    source: Annotated[
        Literal['library', 'alias', 'predefined', 'default'], Field(title='Source')
    ]
    resolves_to: Annotated[
        str | None,
        Field(
            description='For an alias: the library voice it speaks with; for an OpenAI voice name (`default`): `openai.default_voice`.',
            title='Resolves To',
        ),
    ] = None


class VoiceID(BaseModel):
    id: Annotated[str, Field(max_length=256, min_length=1, title='Id')]


class VoiceListing(BaseModel):
    object: Annotated[Literal['list'], Field(title='Object')] = 'list'
    data: Annotated[list[VoiceEntry], Field(title='Data')]
    fallback: Annotated[
        str | None,
        Field(
            description="What any other name speaks with (`builtin`: the model's own voice); null: other names are refused.",
            title='Fallback',
        ),
    ]


DisplayName = TypeAliasType(
    "DisplayName", Annotated[str, Field(max_length=128, title='Display Name')]
)


Description = TypeAliasType(
    "Description", Annotated[str, Field(max_length=2000, title='Description')]
)


class VoiceMetadataPatch(BaseModel):
    model_config = ConfigDict(
        extra='forbid',
    )
    name: Annotated[str | None, Field(title='Name')] = None
    display_name: Annotated[DisplayName | None, Field(title='Display Name')] = None
    description: Annotated[Description | None, Field(title='Description')] = None
    tags: Annotated[list[str] | None, Field(title='Tags')] = None
    folder: Annotated[str | None, Field(title='Folder')] = None
    defaults: VoiceDefaults | None = None


class VoiceQuality(BaseModel):
    verdict: Annotated[Literal['good', 'fair', 'poor'], Field(title='Verdict')]
    warnings: Annotated[list[str], Field(title='Warnings')]


class VoiceUsage(BaseModel):
    name: Annotated[str, Field(title='Name')]
    folder: Annotated[str, Field(title='Folder')]
    usage_count: Annotated[int, Field(title='Usage Count')]
    last_used_at: Annotated[AwareDatetime | None, Field(title='Last Used At')]


class OutputInput(BaseModel):
    model_config = ConfigDict(
        extra='forbid',
    )
    output: Annotated[
        str,
        Field(
            description="A stored output's file name (see GET /api/v1/outputs).",
            title='Output',
        ),
    ]


class SilenceInput(BaseModel):
    model_config = ConfigDict(
        extra='forbid',
    )
    silence_ms: Annotated[
        int,
        Field(
            description='Silence of this length.', ge=1, le=600000, title='Silence Ms'
        ),
    ]


class UploadInput(BaseModel):
    model_config = ConfigDict(
        extra='forbid',
    )
    upload: Annotated[
        str | int,
        Field(
            description='One of the files sent in `files`: its file name, or its position (0 is the first).',
            title='Upload',
        ),
    ]


class VoiceInput(BaseModel):
    model_config = ConfigDict(
        extra='forbid',
    )
    voice: Annotated[
        str,
        Field(description='A library voice: its uploaded recording.', title='Voice'),
    ]


Seed2 = TypeAliasType(
    "Seed2",
    Annotated[
        int,
        Field(
            description='Seed for the pause variation; omitted: random, recorded in the metadata.',
            ge=0,
            le=4294967295,
            title='Seed',
        ),
    ],
)


class ConcatRequest(BaseModel):
    model_config = ConfigDict(
        extra='forbid',
    )
    inputs: Annotated[
        list[OutputInput | VoiceInput | UploadInput | SilenceInput],
        Field(
            description='Segments: stored outputs, voices, uploads and silences, mixed.',
            min_length=1,
            title='Inputs',
        ),
    ]
    order: Annotated[
        list[int] | None,
        Field(
            description="The inputs' positions in the order to join them (each exactly once); omitted: as listed.",
            title='Order',
        ),
    ] = None
    crossfade_ms: Annotated[
        int | None,
        Field(
            description='Equal-power crossfade at every seam (each segment must be at least this long).',
            ge=0,
            le=5000,
            title='Crossfade Ms',
        ),
    ] = 0
    pause_ms: Annotated[
        int | None,
        Field(
            description='Silence between segments.', ge=0, le=60000, title='Pause Ms'
        ),
    ] = 0
    pause_jitter_ms: Annotated[
        int | None,
        Field(
            description='Each pause varies at random by up to this much either way (never below 0).',
            ge=0,
            le=60000,
            title='Pause Jitter Ms',
        ),
    ] = 0
    seed: Annotated[
        Seed2 | None,
        Field(
            description='Seed for the pause variation; omitted: random, recorded in the metadata.',
            title='Seed',
        ),
    ] = None
    trim_silence: Annotated[
        bool | None,
        Field(
            description='Cut leading and trailing silence off every segment.',
            title='Trim Silence',
        ),
    ] = False
    trim_threshold_db: Annotated[
        float | None,
        Field(
            description="With trim_silence: what is this far below the segment's peak is silence.",
            ge=10.0,
            le=90.0,
            title='Trim Threshold Db',
        ),
    ] = 40.0
    normalize: Annotated[
        Literal['none', 'peak', 'rms', 'loudness'] | None,
        Field(
            description='Level every segment: to a peak, an RMS level, or a loudness (LUFS, EBU R128 style).',
            title='Normalize',
        ),
    ] = 'none'
    target_peak_dbfs: Annotated[
        float | None, Field(ge=-60.0, le=0.0, title='Target Peak Dbfs')
    ] = -1.0
    target_rms_dbfs: Annotated[
        float | None, Field(ge=-60.0, le=0.0, title='Target Rms Dbfs')
    ] = -20.0
    target_lufs: Annotated[
        float | None, Field(ge=-70.0, le=-5.0, title='Target Lufs')
    ] = -16.0
    noise_reduction: Annotated[
        bool | None,
        Field(
            description='Spectral-gating noise reduction (noisereduce) on every segment.',
            title='Noise Reduction',
        ),
    ] = False
    output_format: Annotated[
        Literal['wav', 'mp3', 'opus', 'aac', 'flac', 'pcm'] | None,
        Field(title='OutputFormat'),
    ] = 'wav'
    sample_rate: Annotated[
        int | None,
        Field(
            description='Output sample rate (inputs are resampled and downmixed to mono); omitted: the configured one, else 24000.',
            title='Sample Rate',
        ),
    ] = None
    response_mode: Annotated[
        Literal['url', 'stream'] | None,
        Field(
            description='For short jobs answered at once: JSON with the stored file, or the audio itself.',
            title='Response Mode',
        ),
    ] = 'url'


Exaggeration3 = TypeAliasType(
    "Exaggeration3",
    Annotated[
        float,
        Field(
            description="Emotion intensity; omitted: the voice's default, else 0.5 (neutral).",
            ge=0.25,
            le=2.0,
            title='Exaggeration',
        ),
    ],
)


CfgWeight3 = TypeAliasType(
    "CfgWeight3",
    Annotated[
        float,
        Field(
            description="Classifier-free guidance weight (pace/adherence); omitted: the voice's default, else 0.5.",
            ge=0.0,
            le=1.0,
            title='Cfg Weight',
        ),
    ],
)


Temperature3 = TypeAliasType(
    "Temperature3",
    Annotated[
        float,
        Field(
            description="Sampling temperature; omitted: the voice's default, else 0.8.",
            ge=0.05,
            le=5.0,
            title='Temperature',
        ),
    ],
)


Seed3 = TypeAliasType(
    "Seed3",
    Annotated[
        int,
        Field(
            description='Same seed, same audio; omitted: a random seed, recorded in the metadata.',
            ge=0,
            le=4294967295,
            title='Seed',
        ),
    ],
)


SpeedFactor2 = TypeAliasType(
    "SpeedFactor2",
    Annotated[
        float,
        Field(
            description="Speak faster (>1) or slower (<1) at the same pitch; omitted: the voice's default, else the configured one (1.0).",
            ge=0.25,
            le=4.0,
            title='Speed Factor',
        ),
    ],
)


class StreamStart(BaseModel):
    model_config = ConfigDict(
        extra='forbid',
    )
    model: Annotated[
        Literal['original', 'multilingual', 'turbo'] | None,
        Field(
            description='`original`, `multilingual` or `turbo`, of those the deployment enables (see /api/v1/health); omitted: the configured default.',
            title='Model',
        ),
    ] = None
    language: Annotated[
        Language1 | None,
        Field(
            description="ISO 639-1 code of the text's language: the multilingual model speaks 23, the others `en` only; omitted: `en`.",
            title='Language',
        ),
    ] = None
    voice: Annotated[
        str | None,
        Field(
            description="A voice name from the library; omitted: the model's built-in voice.",
            title='Voice',
        ),
    ] = None
    exaggeration: Annotated[
        Exaggeration3 | None,
        Field(
            description="Emotion intensity; omitted: the voice's default, else 0.5 (neutral).",
            title='Exaggeration',
        ),
    ] = None
    cfg_weight: Annotated[
        CfgWeight3 | None,
        Field(
            description="Classifier-free guidance weight (pace/adherence); omitted: the voice's default, else 0.5.",
            title='Cfg Weight',
        ),
    ] = None
    temperature: Annotated[
        Temperature3 | None,
        Field(
            description="Sampling temperature; omitted: the voice's default, else 0.8.",
            title='Temperature',
        ),
    ] = None
    seed: Annotated[
        Seed3 | None,
        Field(
            description='Same seed, same audio; omitted: a random seed, recorded in the metadata.',
            title='Seed',
        ),
    ] = None
    speed_factor: Annotated[
        SpeedFactor2 | None,
        Field(
            description="Speak faster (>1) or slower (<1) at the same pitch; omitted: the voice's default, else the configured one (1.0).",
            title='Speed Factor',
        ),
    ] = None
    speed_factor_library: Annotated[
        Literal['auto', 'audiostretchy', 'librosa', 'torchaudio'] | None,
        Field(
            description='Time-stretcher: `auto` tries audiostretchy, librosa, torchaudio in turn; omitted: the configured one.',
            title='Speed Factor Library',
        ),
    ] = None
    sample_rate: Annotated[
        int | None,
        Field(
            description="Output sample rate, one of 8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000; omitted: the configured one, else the model's 24000.",
            title='Sample Rate',
        ),
    ] = None
    type: Annotated[Literal['start'], Field(title='Type')]
    response_format: Annotated[
        Literal['pcm', 'opus', 'mp3', 'wav'] | None,
        Field(
            description='`pcm`: 16-bit little-endian mono at `sample_rate`, no header; `wav` starts with a header of unknown length; `opus` in Ogg; `mp3`.',
            title='Response Format',
        ),
    ] = 'pcm'
    api_key: Annotated[
        str | None,
        Field(
            description='The API key, for clients that cannot set the `Authorization` header (browsers).',
            title='Api Key',
        ),
    ] = None
    store: Annotated[
        bool | None,
        Field(
            description='Keep what was spoken as one output (named in the `done` event).',
            title='Store',
        ),
    ] = True


class StreamText(BaseModel):
    model_config = ConfigDict(
        extra='forbid',
    )
    type: Annotated[Literal['text'], Field(title='Type')]
    text: Annotated[
        str,
        Field(
            description='More text, cut anywhere (even inside a word).',
            max_length=10000,
            title='Text',
        ),
    ]


class StreamFlush(BaseModel):
    model_config = ConfigDict(
        extra='forbid',
    )
    type: Annotated[Literal['flush'], Field(title='Type')]


class StreamCancel(BaseModel):
    model_config = ConfigDict(
        extra='forbid',
    )
    type: Annotated[Literal['cancel'], Field(title='Type')]


class StreamEnd(BaseModel):
    model_config = ConfigDict(
        extra='forbid',
    )
    type: Annotated[Literal['end'], Field(title='Type')]


class StartedEvent(BaseModel):
    type: Annotated[Literal['started'], Field(title='Type')] = 'started'
    model: Annotated[str, Field(title='Model')]
    voice: Annotated[str | None, Field(title='Voice')]
    language: Annotated[str, Field(title='Language')]
    response_format: Annotated[
        Literal['pcm', 'opus', 'mp3', 'wav'], Field(title='Response Format')
    ]
    sample_rate: Annotated[int, Field(title='Sample Rate')]
    output: Annotated[
        str | None,
        Field(
            description='The name the stored output will have (when `store`).',
            title='Output',
        ),
    ]


class SentenceEvent(BaseModel):
    type: Annotated[Literal['sentence'], Field(title='Type')] = 'sentence'
    index: Annotated[int, Field(title='Index')]
    text: Annotated[str, Field(title='Text')]
    start: Annotated[float, Field(title='Start')]
    end: Annotated[float, Field(title='End')]


class CancelledEvent(BaseModel):
    type: Annotated[Literal['cancelled'], Field(title='Type')] = 'cancelled'
    dropped_sentences: Annotated[int, Field(title='Dropped Sentences')]
    dropped_chars: Annotated[int, Field(title='Dropped Chars')]


class DoneEvent(BaseModel):
    type: Annotated[Literal['done'], Field(title='Type')] = 'done'
    output: Annotated[str | None, Field(title='Output')]
    duration: Annotated[float, Field(title='Duration')]
    sentences: Annotated[int, Field(title='Sentences')]


class ErrorEvent(BaseModel):
    type: Annotated[Literal['error'], Field(title='Type')] = 'error'
    error: ErrorDetail


class BodyVcApiV1VcPost(BaseModel):
    input_audio: Annotated[
        str | None,
        Field(description='Source speech to convert (upload).', title='Input Audio'),
    ] = None
    input_filename: Annotated[
        str | None,
        Field(description='Or: a stored output to convert.', title='Input Filename'),
    ] = None
    target_voice: Annotated[
        str | None,
        Field(description='Target voice name from the library.', title='Target Voice'),
    ] = None
    target_audio: Annotated[
        str | None,
        Field(
            description='Or: a target voice recording (upload).', title='Target Audio'
        ),
    ] = None
    output_format: Annotated[
        Literal['wav', 'mp3', 'opus', 'aac', 'flac', 'pcm'] | None,
        Field(title='OutputFormat'),
    ] = 'wav'
    sample_rate: Annotated[
        int | None,
        Field(
            description='Output sample rate, one of 8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000; omitted: the configured one, else 24000.',
            title='Sample Rate',
        ),
    ] = None
    response_mode: Annotated[
        Literal['url', 'stream'] | None, Field(title='Response Mode')
    ] = 'url'


class DeletedOutput(BaseModel):
    deleted: Annotated[str, Field(title='Deleted')]
    metadata: OutputMetadata


class DeletionPreview(BaseModel):
    error: ErrorDetail
    would_delete: Annotated[list[str], Field(title='Would Delete')]
    count: Annotated[int, Field(title='Count')]


class HTTPValidationError(BaseModel):
    detail: Annotated[list[ValidationError] | None, Field(title='Detail')] = None


class HealthResponse(BaseModel):
    status: Annotated[
        Literal['ok', 'unavailable', 'draining'],
        Field(
            description='`draining`: SIGTERM arrived; in-flight work is finishing and no new generation is taken.',
            title='Status',
        ),
    ]
    ready: Annotated[bool, Field(title='Ready')]
    version: Annotated[str, Field(title='Version')]
    tts: Annotated[
        ModelHealth,
        Field(
            description="The default TTS model's runner (`models` has every enabled one)."
        ),
    ]
    models: Annotated[
        dict[str, ModelHealth],
        Field(
            description="Every enabled TTS model's runner, by model name.",
            title='Models',
        ),
    ]
    default_model: Annotated[str, Field(title='Default Model')]
    vc: ModelHealth
    storage: StorageHealth
    database: DatabaseHealth
    generations: GenerationsHealth


class ImportResponse(BaseModel):
    results: Annotated[list[ImportResult], Field(title='Results')]
    counts: Annotated[
        dict[Literal['imported', 'overwritten', 'renamed', 'skipped', 'failed'], int],
        Field(title='Counts'),
    ]


class JobResponse(BaseModel):
    id: Annotated[str, Field(title='Id')]
    type: Annotated[Literal['concat'], Field(title='Type')] = 'concat'
    status: Annotated[
        Literal['queued', 'running', 'succeeded', 'failed', 'cancelled'],
        Field(title='Status'),
    ]
    created_at: Annotated[AwareDatetime, Field(title='Created At')]
    updated_at: Annotated[AwareDatetime, Field(title='Updated At')]
    progress: JobProgress
    result_filename: Annotated[str | None, Field(title='Result Filename')] = None
    error: JobError | None = None
    cancel_requested: Annotated[bool | None, Field(title='Cancel Requested')] = False
    attempts: Annotated[
        int | None,
        Field(
            description='How many times a replica started it: 2 or more when the replica running it stopped and another took it over (it starts again from the beginning).',
            title='Attempts',
        ),
    ] = 0
    url: Annotated[
        str,
        Field(
            description='Where to follow it (GET) or cancel it (DELETE).', title='Url'
        ),
    ]
    result: OutputResponse | None = None


class ModelList(BaseModel):
    object: Annotated[Literal['list'], Field(title='Object')] = 'list'
    data: Annotated[list[ModelObject], Field(title='Data')]


class OutputListResponse(BaseModel):
    items: Annotated[
        list[OutputMetadata],
        Field(description="The outputs' JSON companions.", title='Items'),
    ]
    total: Annotated[
        int,
        Field(
            description='Outputs matching the filters, over all pages: exact up to 10,000 (1,000 with `search`), else the least there are (`total_exact` false).',
            title='Total',
        ),
    ]
    total_exact: Annotated[
        bool | None,
        Field(
            description='False when counting stopped at its cap: `total` (and `pages`) are then the least there are, and more pages follow.',
            title='Total Exact',
        ),
    ] = True
    page: Annotated[int, Field(title='Page')]
    page_size: Annotated[int, Field(le=500, title='Page Size')]
    pages: Annotated[int, Field(title='Pages')]
    missing: Annotated[
        list[str] | None,
        Field(
            description='With `names`: the names that are no output.', title='Missing'
        ),
    ] = []


class OutputLookupResponse(BaseModel):
    items: Annotated[
        list[OutputMetadata],
        Field(description='The outputs found, in the order asked.', title='Items'),
    ]
    missing: Annotated[list[str], Field(title='Missing')]


class SpeechRequest(BaseModel):
    model_config = ConfigDict(
        extra='forbid',
    )
    model: Annotated[
        str,
        Field(
            description='A name GET /v1/models lists: `tts-1` (Chatterbox-Turbo), `tts-1-hd`, `gpt-4o-mini-tts`, `chatterbox` (the original), `chatterbox-turbo`, `chatterbox-multilingual` (`openai.model_map`).',
            min_length=1,
            title='Model',
        ),
    ]
    input: Annotated[
        str,
        Field(
            description='The text to speak.',
            max_length=4096,
            min_length=1,
            title='Input',
        ),
    ]
    voice: Annotated[
        str | VoiceID,
        Field(
            description='A library voice, an alias such as `alloy`, a predefined voice file; see GET /v1/audio/voices.',
            title='Voice',
        ),
    ]
    instructions: Annotated[
        Instructions | None,
        Field(
            description="Accepted and recorded in the output's metadata; Chatterbox has no prompt for delivery: use `exaggeration`.",
            title='Instructions',
        ),
    ] = None
    response_format: Annotated[
        Literal['wav', 'mp3', 'opus', 'aac', 'flac', 'pcm'] | None,
        Field(
            description='mp3, opus, aac, flac, wav, or pcm (raw 24 kHz 16-bit little-endian mono).',
            title='OutputFormat',
        ),
    ] = 'mp3'
    speed: Annotated[
        Speed | None,
        Field(
            description="0.25..4.0, pitch kept; omitted: the voice's default, else 1.0.",
            title='Speed',
        ),
    ] = None
    stream_format: Annotated[
        Literal['audio', 'sse'] | None,
        Field(
            description='`audio`: the audio bytes, sent as they are generated; `sse`: server-sent events with base64 audio.',
            title='Stream Format',
        ),
    ] = 'audio'
    exaggeration: Annotated[
        Exaggeration | None,
        Field(
            description="Chatterbox extension: emotion intensity; omitted: the voice's default, else 0.5.",
            title='Exaggeration',
        ),
    ] = None
    cfg_weight: Annotated[
        CfgWeight | None,
        Field(
            description='Chatterbox extension: classifier-free guidance weight.',
            title='Cfg Weight',
        ),
    ] = None
    temperature: Annotated[
        Temperature | None,
        Field(
            description='Chatterbox extension: sampling temperature.',
            title='Temperature',
        ),
    ] = None
    seed: Annotated[
        Seed | None,
        Field(description='Chatterbox extension: same seed, same audio.', title='Seed'),
    ] = None
    language: Annotated[
        Language | None,
        Field(
            description='Chatterbox extension: ISO 639-1 language of `input` (chatterbox-multilingual speaks 23); omitted: en.',
            title='Language',
        ),
    ] = None


class VoiceMetadata(BaseModel):
    schema_version: Annotated[Literal[2], Field(title='Schema Version')] = 2
    name: Annotated[str, Field(title='Name')]
    display_name: Annotated[DisplayName | None, Field(title='Display Name')] = None
    description: Annotated[str | None, Field(max_length=2000, title='Description')] = ''
    tags: Annotated[list[str] | None, Field(title='Tags')] = []
    folder: Annotated[str | None, Field(title='Folder')] = ''
    defaults: Annotated[VoiceDefaults | None, Field(validate_default=True)] = {}
    audio: AudioFacts
    quality: VoiceQuality
    created_at: Annotated[AwareDatetime, Field(title='Created At')]
    updated_at: Annotated[AwareDatetime, Field(title='Updated At')]
    usage_count: Annotated[int | None, Field(ge=0, title='Usage Count')] = 0
    last_used_at: Annotated[AwareDatetime | None, Field(title='Last Used At')] = None
    content_hash: Annotated[str, Field(title='Content Hash')]
    original_filename: Annotated[str | None, Field(title='Original Filename')] = None
    original_key: Annotated[str, Field(title='Original Key')]
    reference_key: Annotated[str, Field(title='Reference Key')]


class VoiceResponse(BaseModel):
    voice: VoiceMetadata
    etag: Annotated[str, Field(title='Etag')]
    created: Annotated[bool | None, Field(title='Created')] = False


class VoiceStats(BaseModel):
    total_voices: Annotated[int, Field(title='Total Voices')]
    total_uses: Annotated[int, Field(title='Total Uses')]
    used_voices: Annotated[int, Field(title='Used Voices')]
    never_used_voices: Annotated[int, Field(title='Never Used Voices')]
    most_used: Annotated[list[VoiceUsage], Field(title='Most Used')]
    never_used: Annotated[list[VoiceUsage], Field(title='Never Used')]
    per_folder: Annotated[list[FolderUsage], Field(title='Per Folder')]


class BulkVoiceResult(BaseModel):
    filename: Annotated[str, Field(title='Filename')]
    name: Annotated[
        str | None,
        Field(
            description='The voice name taken from the file name (None when none could be made).',
            title='Name',
        ),
    ]
    status: Annotated[Literal['created', 'replaced', 'failed'], Field(title='Status')]
    error: ErrorDetail | None = None
    voice: VoiceMetadata | None = None


class VoiceListResponse(BaseModel):
    items: Annotated[list[VoiceMetadata], Field(title='Items')]
    total: Annotated[
        int,
        Field(
            description='Voices matching the filters, over all pages: exact up to 10,000 (1,000 with `search`), else the least there are (`total_exact` false).',
            title='Total',
        ),
    ]
    total_exact: Annotated[
        bool | None,
        Field(
            description='False when counting stopped at its cap: `total` (and `pages`) are then the least there are, and more pages follow.',
            title='Total Exact',
        ),
    ] = True
    page: Annotated[int, Field(title='Page')]
    page_size: Annotated[int, Field(le=200, title='Page Size')]
    pages: Annotated[int, Field(title='Pages')]


class BulkVoiceResponse(BaseModel):
    results: Annotated[list[BulkVoiceResult], Field(title='Results')]
    created: Annotated[int, Field(title='Created')]
    replaced: Annotated[int, Field(title='Replaced')]
    failed: Annotated[int, Field(title='Failed')]


FolderNode.model_rebuild()
