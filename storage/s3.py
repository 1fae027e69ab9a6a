"""Any S3-compatible store through boto3 (AWS S3, MinIO, R2, ...).

Credentials come from boto3's usual chain (env, profile, instance role). A single PUT is
atomic on S3, so no temp objects are needed. Objects over `MULTIPART_BYTES` (a long
concatenation, a large upload) go up in parts through s3transfer: each part is its own
request, retried on its own by botocore (`RETRY_ATTEMPTS`, standard mode), so a dropped
connection costs one part, not the whole upload; a failed upload is aborted (the storage
checker finds any that were not). Versions are ETags, and conditional writes use
S3's own `If-Match` / `If-None-Match` preconditions (AWS, MinIO, R2 and moto support them),
so the compare-and-swap happens inside the store, not in a race between replicas.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import boto3
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from storage.base import ObjectInfo, ObjectNotFoundError, PreconditionFailedError, Storage, StorageError, TempObject, check_key

MULTIPART_BYTES = 16 << 20
RETRY_ATTEMPTS = 5
TRANSFER = TransferConfig(multipart_threshold=MULTIPART_BYTES, multipart_chunksize=MULTIPART_BYTES, max_concurrency=4)
_NOT_FOUND_CODES = {"404", "NoSuchKey", "NotFound"}
_PRECONDITION_CODES = {"412", "PreconditionFailed", "ConditionalRequestConflict"}


class S3Storage(Storage):
    backend = "s3"

    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None, region: str | None = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            config=Config(retries={"max_attempts": RETRY_ATTEMPTS, "mode": "standard"}, connect_timeout=5, read_timeout=30, max_pool_connections=32),
        )

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _fail(self, action: str, key: str, exc: Exception) -> Exception:
        code = exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else None
        if code in _NOT_FOUND_CODES:
            return ObjectNotFoundError(key)
        if code in _PRECONDITION_CODES:
            return PreconditionFailedError(f"{key} changed since it was read")
        return StorageError(f"S3 {action} {self.bucket}/{self.prefix}{key} failed: {exc}")

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        try:
            if len(data) > MULTIPART_BYTES:
                self.client.upload_fileobj(io.BytesIO(data), self.bucket, self._key(key), ExtraArgs={"ContentType": content_type}, Config=TRANSFER)
            else:
                self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type)
        except (BotoCoreError, ClientError, S3UploadFailedError) as exc:
            raise self._fail("put", key, exc) from exc

    def put_if(self, key: str, data: bytes, version: str | None, content_type: str = "application/octet-stream") -> str:
        condition = {"IfMatch": version} if version is not None else {"IfNoneMatch": "*"}
        try:
            reply = self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type, **condition)
        except (BotoCoreError, ClientError) as exc:
            failure = self._fail("put", key, exc)
            # If-Match on a missing object is a 404: to the caller it is the same lost race.
            raise (PreconditionFailedError(f"{key} was deleted since it was read") if isinstance(failure, ObjectNotFoundError) else failure) from exc
        return reply["ETag"]

    def download_url(self, key: str, *, seconds: int, filename: str, content_type: str, disposition: str) -> str:
        """Signed locally (no request to S3): the URL names the client's endpoint, so it works
        for clients only when they can reach `S3_ENDPOINT_URL` (or AWS) themselves."""
        params = {
            "Bucket": self.bucket, "Key": self._key(key), "ResponseContentType": content_type,
            "ResponseContentDisposition": f'{disposition}; filename="{filename}"',
        }
        return self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=seconds)

    def get(self, key: str) -> bytes:
        return self.get_versioned(key)[0]

    def get_versioned(self, key: str) -> tuple[bytes, str]:
        try:
            reply = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            return reply["Body"].read(), reply["ETag"]
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("get", key, exc) from exc

    def size(self, key: str) -> int:
        try:
            return int(self.client.head_object(Bucket=self.bucket, Key=self._key(key))["ContentLength"])
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("head", key, exc) from exc

    def put_file(self, key: str, path: Path, content_type: str = "application/octet-stream") -> None:
        try:
            self.client.upload_file(str(path), self.bucket, self._key(key), ExtraArgs={"ContentType": content_type}, Config=TRANSFER)
        except (BotoCoreError, ClientError, S3UploadFailedError) as exc:
            raise self._fail("upload", key, exc) from exc

    def iter_bytes(self, key: str, chunk_size: int = 1 << 16, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        window = {} if start == 0 and length is None else {"Range": f"bytes={start}-{'' if length is None else start + length - 1}"}
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(key), **window)["Body"]
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("get", key, exc) from exc
        return body.iter_chunks(chunk_size)

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("delete", key, exc) from exc

    def delete_if(self, key: str, version: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key), IfMatch=version)
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("delete", key, exc) from exc

    def list_objects(self, prefix: str) -> Iterator[ObjectInfo]:
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
                for item in page.get("Contents", []):
                    yield ObjectInfo(item["Key"][len(self.prefix) :], int(item["Size"]), item["ETag"], item["LastModified"].timestamp())
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("list", prefix, exc) from exc

    def temp_objects(self) -> Iterator[TempObject]:
        paginator = self.client.get_paginator("list_multipart_uploads")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
                for upload in page.get("Uploads", []):
                    yield TempObject(upload["Key"][len(self.prefix) :], upload["Initiated"].timestamp(), upload["UploadId"])
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("list uploads", self.prefix, exc) from exc

    def remove_temp_object(self, temp: TempObject) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=self._key(temp.key), UploadId=temp.handle)
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("abort upload", temp.key, exc) from exc

    def check(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"S3 bucket {self.bucket} is not reachable: {exc}") from exc
