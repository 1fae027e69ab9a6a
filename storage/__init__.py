"""Where voices and outputs live: one interface, a local-folder and an S3 backend."""

from storage.base import InvalidKeyError, ObjectInfo, ObjectNotFoundError, PreconditionFailedError, Storage, StorageError
from storage.factory import create_storage

__all__ = ["InvalidKeyError", "ObjectInfo", "ObjectNotFoundError", "PreconditionFailedError", "Storage", "StorageError", "create_storage"]
