"""The voice library: uploads (one, many, a zip), listing and search, the folder tree, usage,
one voice's record, audio and edits, deletes (dry run first), export and import."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, Header, Query, UploadFile
from fastapi.responses import Response

from api.dependencies import ServingDep
from api.errors import validated
from api.protocol import BulkVoiceResponse, DeletedVoices, ImportResponse, OnConflict, VoiceListResponse, VoiceResponse
from api.route_policies import route_policy
from api.routes.responses import DELETE_ERRORS, ERRORS, VOICE_ERRORS
from contract.paging import MAX_PAGE
from voices.metadata import VoiceDefaults, VoiceMetadataPatch
from voices.query import MAX_PAGE_SIZE, FolderNode, SortKey, VoiceFilter, VoiceListQuery, VoiceStats

router = APIRouter()


def split_tags(tags: list[str] | None) -> list[str] | None:
    """Tags from repeated form fields, each of which may hold several separated by commas."""
    if tags is None:
        return None
    return [tag for field in tags for tag in field.split(",") if tag.strip()]


def voice_filter_of(
    search: str | None = Query(None, description="Words that must all appear in the name, display name, description or tags."),
    folder: str | None = Query(None, description="Only voices in this folder ('' is the top level)."),
    include_subfolders: bool = Query(True, description="With `folder`: include its subfolders."),
    tag: list[str] = Query([], description="Repeatable: voices carrying every one of these tags."),
    name: list[str] = Query([], description="Repeatable: only these voices."),
) -> VoiceFilter:
    data = {"search": search, "folder": folder, "include_subfolders": include_subfolders, "tags": tag, "names": name}
    return validated(VoiceFilter, data, "query", aliases={"tags": "tag", "names": "name"})


SelectedVoices = Annotated[VoiceFilter, Depends(voice_filter_of)]


@router.post("/api/v1/voice", response_model=VoiceResponse, status_code=201, responses=VOICE_ERRORS)
@route_policy(idempotent=True)
async def upload_voice(
    serving: ServingDep,
    name: str = Form(..., description="Voice name used by `voice` in TTS (unique ignoring case)."),
    file: UploadFile | None = File(None, description="Voice reference: wav, mp3, flac, ogg/opus or m4a, 1 s or longer. Omit to update metadata only."),
    overwrite: bool = Form(False, description="Replace the audio of an existing voice of the same name."),
    display_name: str | None = Form(None),
    description: str | None = Form(None),
    tags: list[str] | None = Form(None, description="Repeat the field, or separate tags with commas."),
    folder: str | None = Form(None, description="Folder path such as `narrators/en`; '' is the top level."),
    exaggeration: float | None = Form(None, description="Default exaggeration for this voice."),
    cfg_weight: float | None = Form(None, description="Default cfg_weight for this voice."),
    temperature: float | None = Form(None, description="Default temperature for this voice."),
    speed_factor: float | None = Form(None, description="Default speed factor for this voice."),
    language: str | None = Form(None, description="Default language (ISO 639-1) for the multilingual model with this voice."),
) -> Response:
    """Add a voice (201), replace its audio with overwrite=true (200), or, without a file,
    update the metadata of an existing voice (200)."""
    given = {"exaggeration": exaggeration, "cfg_weight": cfg_weight, "temperature": temperature, "speed_factor": speed_factor, "language": language}
    defaults = validated(VoiceDefaults, {k: v for k, v in given.items() if v is not None}, "body")
    fields = {"display_name": display_name, "description": description, "folder": folder, "tags": split_tags(tags)}
    patch_data = {k: v for k, v in fields.items() if v is not None} | ({"defaults": defaults} if defaults.model_fields_set else {})
    return await serving.voice_uploads.upload(file, name, validated(VoiceMetadataPatch, patch_data, "body"), overwrite)


@router.post("/api/v1/voices/bulk", response_model=BulkVoiceResponse, responses=ERRORS)
@route_policy(idempotent=True, archive_body=True)
async def bulk_upload_voices(
    serving: ServingDep,
    files: list[UploadFile] = File([], description="Audio files; each becomes a voice named after the file."),
    archive: UploadFile | None = File(None, description="Or a zip of audio files; its subfolders become folders."),
    folder: str = Form("", description="Folder for every voice (zip subfolders go below it)."),
    tags: list[str] | None = Form(None, description="Tags for every voice."),
    overwrite: bool = Form(False, description="Replace voices that already exist (otherwise they fail with 409)."),
) -> BulkVoiceResponse:
    """Upload many voices at once; each file gets its own result, one bad file fails alone."""
    patch = validated(VoiceMetadataPatch, {"folder": folder, "tags": split_tags(tags) or []}, "body")
    return await serving.voice_uploads.bulk_upload(files, archive, patch.folder or "", patch.tags or [], overwrite)


@router.get("/api/v1/voices", response_model=VoiceListResponse, responses=ERRORS)
async def list_voices(
    serving: ServingDep,
    voice_filter: SelectedVoices,
    page: int = Query(1, ge=1, le=MAX_PAGE),
    page_size: int = Query(50, ge=1, le=MAX_PAGE_SIZE),
    sort: SortKey = Query("name"),
    order: Literal["asc", "desc"] = Query("asc"),
) -> VoiceListResponse:
    """Search, filter, sort and page the library (queries on the metadata database)."""
    query = VoiceListQuery(**voice_filter.model_dump(), page=page, page_size=page_size, sort=sort, order=order)
    return await serving.voices.list(query)


@router.delete("/api/v1/voices", response_model=DeletedVoices, responses=DELETE_ERRORS)
async def delete_voices(
    serving: ServingDep,
    voice_filter: SelectedVoices,
    all: bool = Query(False, description="Select every voice (when no other filter is given)."),
    confirm: bool = Query(False, description="Without it nothing is deleted: a 400 lists what would be."),
) -> DeletedVoices:
    """Delete the voices a filter selects (audio, record and cached conditioning)."""
    return await serving.voices.delete_many(voice_filter, all, confirm)


@router.get("/api/v1/voices/folders", response_model=FolderNode, responses=ERRORS)
async def voice_folders(serving: ServingDep) -> FolderNode:
    """The folder tree, with voices directly in each folder and in all below it."""
    return await serving.voices.folders()


@router.get("/api/v1/voices/stats", response_model=VoiceStats, responses=ERRORS)
async def voice_stats(serving: ServingDep, limit: int = Query(20, ge=1, le=1000, description="Entries in the most/never used lists.")) -> VoiceStats:
    """Usage: most used, never used (oldest first), per folder. TTS and VC count uses."""
    return await serving.voices.stats(limit)


@router.get("/api/v1/voices/export", responses={**ERRORS, 200: {"content": {"application/zip": {}}}})
async def export_voices(serving: ServingDep, voice_filter: SelectedVoices) -> Response:
    """Stream a zip of the selected voices (all by default): audio, records, checksummed manifest."""
    return await serving.voice_backups.export(voice_filter)


@router.post("/api/v1/voices/import", response_model=ImportResponse, responses=ERRORS)
@route_policy(idempotent=True, archive_body=True)
async def import_voices(
    serving: ServingDep,
    archive: UploadFile = File(..., description="A zip made by GET /api/v1/voices/export."),
    on_conflict: OnConflict = Form("skip", description="When a voice of that name exists: skip it, overwrite it, or import under a new name."),
) -> ImportResponse:
    """Restore voices from an export, verifying every checksum; one result per voice."""
    return await serving.voice_backups.import_(archive, on_conflict)


@router.get("/api/v1/voice/{name}", response_model=VoiceResponse, responses=VOICE_ERRORS)
async def get_voice(serving: ServingDep, name: str) -> Response:
    """One voice's record; the `ETag` header is what PUT .../metadata takes as If-Match."""
    return await serving.voices.get(name)


@router.get("/api/v1/voice/{name}/audio", responses={**ERRORS, 200: {"content": {"audio/*": {}}}})
async def get_voice_audio(
    serving: ServingDep, name: str,
    variant: Literal["original", "reference"] = Query("original", description="The upload as sent, or the 24 kHz mono WAV used for conditioning."),
) -> Response:
    """Download a voice's audio."""
    return await serving.voices.audio(name, variant)


@router.put("/api/v1/voice/{name}/metadata", response_model=VoiceResponse, responses=VOICE_ERRORS)
async def update_voice_metadata(
    serving: ServingDep, name: str, patch: VoiceMetadataPatch,
    if_match: str | None = Header(None, description="The voice's ETag: the update fails with 412 if the voice changed since."),
) -> Response:
    """Change some fields (rename and move included); with If-Match, only if unchanged."""
    return await serving.voices.update(name, patch, if_match)


@router.delete("/api/v1/voice/{name}", response_model=DeletedVoices, responses=DELETE_ERRORS)
async def delete_voice(serving: ServingDep, name: str, confirm: bool = Query(False, description="Without it nothing is deleted: a 400 says what would be.")) -> DeletedVoices:
    """Delete one voice: audio, record and cached conditioning."""
    return await serving.voices.delete(name, confirm)
