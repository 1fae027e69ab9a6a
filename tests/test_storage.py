"""Both storage backends behave the same: atomic writes, safe keys, listing, deletion."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import pytest

from storage import InvalidKeyError, ObjectNotFoundError, Storage, StorageError
from storage.local import LocalStorage
from storage.outputs import OutputMetadata, OutputStore, companion_key, is_output_name, new_output_name
from storage.s3 import S3Storage
from tests.conftest import s3_client


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path) -> Iterator[Storage]:
    if request.param == "local":
        yield LocalStorage(tmp_path / "store")
        return
    endpoint = request.getfixturevalue("moto_endpoint")
    bucket = f"unit-{tmp_path.name.lower().replace('_', '-')[-40:]}"
    s3_client(endpoint).create_bucket(Bucket=bucket)
    yield S3Storage(bucket, "prefix/", endpoint, "us-east-1")


def test_put_get_size_list_delete(storage: Storage) -> None:
    storage.put("outputs/a.wav", b"one")
    storage.put("outputs/a.wav", b"two!")  # replace
    storage.put("voices/x/voice.json", b"{}")
    assert storage.get("outputs/a.wav") == b"two!"
    assert storage.size("outputs/a.wav") == 4
    assert b"".join(storage.iter_bytes("outputs/a.wav", chunk_size=2)) == b"two!"
    assert sorted(storage.list_keys("")) == ["outputs/a.wav", "voices/x/voice.json"]
    assert list(storage.list_keys("voices/")) == ["voices/x/voice.json"]
    storage.delete("outputs/a.wav")
    storage.delete("outputs/a.wav")  # idempotent
    assert not storage.exists("outputs/a.wav")
    with pytest.raises(ObjectNotFoundError):
        storage.get("outputs/a.wav")
    with pytest.raises(ObjectNotFoundError):
        storage.iter_bytes("outputs/missing.wav")
    storage.check()


@pytest.mark.parametrize("key", ["../x", "a/../../x", "/etc/passwd", "a//b", "", "a/./b", "a\\b", "a/b\x00", ".hidden/.."])
def test_keys_cannot_escape(storage: Storage, key: str) -> None:
    with pytest.raises(InvalidKeyError):
        storage.put(key, b"x")
    with pytest.raises(InvalidKeyError):
        storage.get(key)


def test_local_writes_leave_no_temp_files(tmp_path) -> None:
    storage = LocalStorage(tmp_path)
    storage.put("outputs/a.wav", b"data")
    assert sorted(p.name for p in (tmp_path / "outputs").iterdir()) == ["a.wav"]


def test_s3_down_is_a_storage_error() -> None:
    storage = S3Storage("bucket", "", "http://127.0.0.1:9", "us-east-1")  # nothing listens on port 9
    with pytest.raises(StorageError):
        storage.put("outputs/a.wav", b"x")
    with pytest.raises(StorageError):
        storage.check()


def test_output_names_are_unique_within_one_millisecond() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, 678_000, tzinfo=timezone.utc)
    names = {new_output_name("tts", "wav", {"voice": "alex", "exag": 0.5, "cfg": 0.5}, now) for _ in range(20_000)}
    assert len(names) == 20_000
    name = names.pop()
    assert name.startswith("tts_20260102-030405-678-") and name.endswith("_voice-alex_exag-0.5_cfg-0.5.wav")
    assert is_output_name(name)


def test_output_name_params_are_filename_safe() -> None:
    name = new_output_name("vc", "mp3", {"voice": "../../we ird/näme", "exag": None})
    assert is_output_name(name) and "/" not in name and ".." not in name
    assert name.endswith("_voice-we-ird-n-me.mp3")


def test_failed_companion_write_removes_the_audio(tmp_path) -> None:
    class CompanionFails(LocalStorage):
        def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
            if key.endswith(".json"):
                raise StorageError("disk full")
            super().put(key, data, content_type)

    storage = CompanionFails(tmp_path)
    metadata = OutputMetadata(
        filename="tts_20260101-000000-000-abcdef012345.wav", type="tts", created_at=datetime.now(timezone.utc), format="wav",
        content_type="audio/wav", sample_rate=24000, duration_seconds=1.0, size_bytes=4, generation_seconds=0.1,
        model_source="random", voice=None, parameters={},
    )
    with pytest.raises(StorageError):
        OutputStore(storage).save(b"data", metadata)
    assert list(storage.list_keys("")) == []
    assert companion_key(metadata.filename) == "outputs/tts_20260101-000000-000-abcdef012345.json"
