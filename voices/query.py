"""What a listing, search or bulk selection of voices asks for, and the shapes of the folder
tree and usage statistics: the models the API validates; `voices.records` turns them into SQL."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from contract.paging import PageRequest
from voices.names import FolderPath, Tags, VoiceName

SortKey = Literal["name", "created", "updated", "duration", "usage_count", "last_used"]
MAX_PAGE_SIZE = 200


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


class VoiceListQuery(VoiceFilter, PageRequest):
    page_size: int = Field(50, ge=1, le=MAX_PAGE_SIZE)
    sort: SortKey = "name"
    order: Literal["asc", "desc"] = "asc"


class FolderNode(BaseModel):
    path: str
    name: str
    voice_count: int  # voices directly in this folder
    total_count: int  # including every subfolder
    children: list[FolderNode] = []


def folder_tree(direct: dict[str, int]) -> FolderNode:
    """The tree of folders from the number of voices directly in each."""
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
