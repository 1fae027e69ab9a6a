"""Selecting, sorting and summarising voices in memory: listing, search, bulk selection for
delete/export, the folder tree and usage statistics. Pure functions over metadata, so the
same selection rules serve every endpoint and need no storage round trip."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timezone
from functools import cached_property
from typing import Literal

from pydantic import BaseModel, Field

from contract.paging import PageRequest
from voices.metadata import VoiceMetadata
from voices.names import FolderPath, Tags, VoiceName, in_folder

SortKey = Literal["name", "created", "updated", "duration", "usage_count", "last_used"]
MAX_PAGE_SIZE = 200
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_SORT_KEYS = {
    "name": lambda v: v.name.casefold(),
    "created": lambda v: v.created_at,
    "updated": lambda v: v.updated_at,
    "duration": lambda v: v.audio.duration_seconds,
    "usage_count": lambda v: v.usage_count,
    "last_used": lambda v: v.last_used_at or _EPOCH,
}


class VoiceFilter(BaseModel):
    """Which voices a listing, bulk delete or export applies to; every given condition must hold."""

    search: str | None = Field(None, max_length=200, description="Words that must all appear in the name, display name, description or tags (case-insensitive).")
    folder: FolderPath | None = Field(None, description="Only voices in this folder ('' is the top level).")
    include_subfolders: bool = Field(True, description="With `folder`: also voices in its subfolders.")
    tags: Tags = Field([], description="Voices carrying every one of these tags.")
    names: list[VoiceName] = Field([], description="Only these voices (case-insensitive).")

    @property
    def is_empty(self) -> bool:
        return self.search is None and self.folder is None and not self.tags and not self.names

    @cached_property
    def _names(self) -> frozenset[str]:
        return frozenset(name.casefold() for name in self.names)

    @cached_property
    def _words(self) -> tuple[str, ...]:
        return tuple(self.search.casefold().split()) if self.search else ()

    def matches(self, voice: VoiceMetadata, search_text: str) -> bool:
        """Called once per voice in the library for every listing: the filter's own parts
        are prepared once (cached), the voice's search text is prepared by the index."""
        if self._names and voice.name.casefold() not in self._names:
            return False
        if self.folder is not None and not in_folder(voice.folder, self.folder, self.include_subfolders):
            return False
        # Plain loops, not all(...): this runs once per voice, 10,000 times for a large library.
        for tag in self.tags:
            if tag not in voice.tags:
                return False
        for word in self._words:
            if word not in search_text:
                return False
        return True


class VoiceListQuery(VoiceFilter, PageRequest):
    page_size: int = Field(50, ge=1, le=MAX_PAGE_SIZE)
    sort: SortKey = "name"
    order: Literal["asc", "desc"] = "asc"


def sort_and_page(voices: list[VoiceMetadata], query: VoiceListQuery) -> list[VoiceMetadata]:
    """The requested page; ties broken by name so pages are stable between requests."""
    ordered = sorted(voices, key=lambda v: v.name.casefold())
    ordered.sort(key=_SORT_KEYS[query.sort], reverse=query.order == "desc")
    return query.window(ordered)


class FolderNode(BaseModel):
    path: str
    name: str
    voice_count: int  # voices directly in this folder
    total_count: int  # including every subfolder
    children: list[FolderNode] = []


def folder_tree(voices: Sequence[VoiceMetadata]) -> FolderNode:
    direct: dict[str, int] = defaultdict(int)
    for voice in voices:
        direct[voice.folder] += 1
    paths = {""}
    for folder in direct:
        parts = folder.split("/") if folder else []
        paths.update("/".join(parts[:depth]) for depth in range(1, len(parts) + 1))

    def node(path: str) -> FolderNode:
        prefix = path + "/" if path else ""
        child_paths = sorted(p for p in paths if p and p.startswith(prefix) and "/" not in p[len(prefix) :])
        children = [node(child) for child in child_paths]
        return FolderNode(
            path=path, name=path.rsplit("/", 1)[-1], voice_count=direct.get(path, 0),
            total_count=direct.get(path, 0) + sum(child.total_count for child in children), children=children,
        )

    return node("")


class VoiceUsage(BaseModel):
    name: str
    folder: str
    usage_count: int
    last_used_at: datetime | None


class FolderUsage(BaseModel):
    folder: str
    voices: int
    uses: int
    never_used: int


class VoiceStats(BaseModel):
    total_voices: int
    total_uses: int
    used_voices: int
    never_used_voices: int
    most_used: list[VoiceUsage]
    never_used: list[VoiceUsage]  # oldest first: the first candidates for a clean-up
    per_folder: list[FolderUsage]


def usage_stats(voices: Sequence[VoiceMetadata], limit: int) -> VoiceStats:
    def usage(voice: VoiceMetadata) -> VoiceUsage:
        return VoiceUsage(name=voice.name, folder=voice.folder, usage_count=voice.usage_count, last_used_at=voice.last_used_at)

    used = sorted((v for v in voices if v.usage_count), key=lambda v: (-v.usage_count, v.name.casefold()))
    unused = sorted((v for v in voices if not v.usage_count), key=lambda v: (v.created_at, v.name.casefold()))
    folders: dict[str, list[VoiceMetadata]] = defaultdict(list)
    for voice in voices:
        folders[voice.folder].append(voice)
    return VoiceStats(
        total_voices=len(voices),
        total_uses=sum(v.usage_count for v in voices),
        used_voices=len(used),
        never_used_voices=len(unused),
        most_used=[usage(v) for v in used[:limit]],
        never_used=[usage(v) for v in unused[:limit]],
        per_folder=[
            FolderUsage(folder=folder, voices=len(members), uses=sum(v.usage_count for v in members), never_used=sum(1 for v in members if not v.usage_count))
            for folder, members in sorted(folders.items())
        ],
    )
