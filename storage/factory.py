"""Pick the backend named by the configuration."""

from __future__ import annotations

from config import StorageSettings
from storage.base import Storage
from storage.local import LocalStorage
from storage.s3 import S3Storage


def create_storage(settings: StorageSettings) -> Storage:
    if settings.backend == "s3":
        assert settings.s3_bucket  # enforced by StorageSettings
        return S3Storage(settings.s3_bucket, settings.s3_prefix, settings.s3_endpoint_url, settings.s3_region)
    return LocalStorage(settings.dir)
