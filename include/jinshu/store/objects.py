"""Object stores for landing areas and open data: a local folder or S3.

Both speak the same few verbs over ``/``-separated keys, so callers never
know which one they run on. S3 goes through boto3 with a configurable
endpoint (MinIO in compose, moto's server in tests). A key that is not
there raises :class:`FileNotFoundError` on either.
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

CHUNK = 8 << 20  # streamed reads: memory is bounded by this, never by the file


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    modified: datetime


class ObjectStore(Protocol):
    url: str

    def list(self, prefix: str) -> list[ObjectInfo]: ...
    def read(self, key: str) -> bytes: ...
    def chunks(self, key: str, size: int = CHUNK) -> Iterator[bytes]: ...
    def copy(self, key: str, to_key: str) -> None: ...
    def write(self, key: str, data: bytes) -> None: ...
    def delete(self, key: str) -> None: ...


class LocalStore:
    """A folder on disk; keys are relative paths.

    ``private``: what it writes is readable by the platform's user only (files 0600,
    the folders it makes 0700), for copies that hold personal data (the landing
    area's quarantine). Open data is public and keeps the umask's modes (0644).
    """

    def __init__(self, root: Path, private: bool = False) -> None:
        self.root, self.private = root, private
        self.url = str(root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"key '{key}' leaves the store")
        return path

    def list(self, prefix: str) -> list[ObjectInfo]:
        base = self._path(prefix) if prefix else self.root
        if not base.is_dir():
            return []
        return [
            ObjectInfo(p.relative_to(self.root).as_posix(), p.stat().st_size,
                       datetime.fromtimestamp(p.stat().st_mtime, UTC))
            for p in sorted(base.rglob("*")) if p.is_file()
        ]

    def read(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def chunks(self, key: str, size: int = CHUNK) -> Iterator[bytes]:
        with self._path(key).open("rb") as source:
            while chunk := source.read(size):
                yield chunk

    def copy(self, key: str, to_key: str) -> None:
        source, path = self._path(key), self._path(to_key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.part")
        shutil.copyfile(source, tmp)
        tmp.replace(path)

    def write(self, key: str, data: bytes) -> None:
        path = self._path(key)
        self._make_folder(path.parent)
        tmp = path.with_name(f".{path.name}.part")
        if self.private:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.fchmod(fd, 0o600)  # also when a leftover part file was there
            with os.fdopen(fd, "wb") as out:
                out.write(data)
        else:
            tmp.write_bytes(data)
        tmp.replace(path)  # readers never see half a file

    def _make_folder(self, folder: Path) -> None:
        missing = [folder, *folder.parents]
        missing = missing[:next(i for i, f in enumerate(missing) if f.exists())]
        folder.mkdir(parents=True, exist_ok=True)
        if self.private:
            for made in missing:
                made.chmod(0o700)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


class S3Store:
    """A bucket (and optional prefix) behind the S3 API."""

    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None) -> None:
        import boto3

        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.url = f"s3://{bucket}/{self.prefix}".rstrip("/")
        self.client = boto3.client("s3", endpoint_url=endpoint_url)

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def list(self, prefix: str) -> list[ObjectInfo]:
        out: list[ObjectInfo] = []
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self._key(prefix))
        strip = len(self.prefix) + 1 if self.prefix else 0
        for page in pages:
            for obj in page.get("Contents", []):
                out.append(ObjectInfo(obj["Key"][strip:], obj["Size"], obj["LastModified"]))
        return sorted(out, key=lambda o: o.key)

    def _get(self, key: str) -> dict:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.NoSuchKey as missing:
            raise FileNotFoundError(f"{self.url}/{key}") from missing

    def read(self, key: str) -> bytes:
        return self._get(key)["Body"].read()

    def chunks(self, key: str, size: int = CHUNK) -> Iterator[bytes]:
        body = self._get(key)["Body"]
        try:
            yield from body.iter_chunks(size)
        finally:
            body.close()

    def copy(self, key: str, to_key: str) -> None:
        """Server-side (multipart above 8 MB): the bytes never pass through this process."""
        from botocore.exceptions import ClientError

        try:
            self.client.copy({"Bucket": self.bucket, "Key": self._key(key)}, self.bucket,
                             self._key(to_key))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"404", "NoSuchKey"}:
                raise FileNotFoundError(f"{self.url}/{key}") from error
            raise

    def write(self, key: str, data: bytes) -> None:
        """``data``: bytes or any buffer (an Arrow buffer, say)."""
        body = data if isinstance(data, bytes) else io.BytesIO(data)
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=body)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))


def open_store(url: str, endpoint_url: str | None = None, private: bool = False) -> ObjectStore:
    """``s3://bucket/prefix`` -> :class:`S3Store`; a path or ``file://`` URL -> :class:`LocalStore`
    (``private``: see :class:`LocalStore`; a bucket's access is set by its policy)."""
    if url.startswith("s3://"):
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        return S3Store(bucket, prefix, endpoint_url)
    return LocalStore(Path(url.removeprefix("file://")), private)
