"""Object storage through the minio client (S3 API); blocking calls run in worker threads."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence
from datetime import timedelta
from typing import BinaryIO

from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import S3Error
from urllib3.exceptions import HTTPError as TransportError

from shared.settings import Settings
from shared.store.presign import Presigner, path_style

__all__ = ["STORAGE_DOWN", "ObjectStorage", "S3Error", "content_key"]


def content_key(org_id: str, sha256: str) -> str:
    """Where an organisation's object with these bytes lives (images, a video's frames):
    content-addressed under the client's prefix; file names never become keys."""
    return f"{org_id}/sha256/{sha256[:2]}/{sha256}"


# Errors meaning "object storage cannot be reached right now".
STORAGE_DOWN: tuple[type[Exception], ...] = (TransportError, ConnectionError)


class ObjectStorage:
    """The few object operations the services need, as coroutines."""

    def __init__(self, settings: Settings) -> None:
        self._client = Minio(
            settings.s3_endpoint,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key.get_secret_value(),
            secure=settings.s3_secure,
            # A fixed region keeps presigning local: no round trip to ask the server.
            region=settings.s3_region,
        )
        self._presigner = (
            Presigner(
                settings.s3_endpoint,
                settings.s3_secure,
                settings.s3_access_key,
                settings.s3_secret_key.get_secret_value(),
                settings.s3_region,
            )
            if path_style(settings.s3_endpoint)
            else None
        )

    async def ensure_bucket(self, bucket: str) -> None:
        def work() -> None:
            if not self._client.bucket_exists(bucket):
                try:
                    self._client.make_bucket(bucket)
                except S3Error as exc:  # another replica made it first
                    if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise

        await asyncio.to_thread(work)

    async def ping(self, bucket: str) -> None:
        await asyncio.to_thread(self._client.bucket_exists, bucket)

    async def put_bytes(
        self, bucket: str, key: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> None:
        await asyncio.to_thread(
            self._client.put_object, bucket, key, io.BytesIO(data), len(data), content_type
        )

    async def put_stream(
        self, bucket: str, key: str, stream: BinaryIO, size: int, content_type: str
    ) -> None:
        await asyncio.to_thread(self._client.put_object, bucket, key, stream, size, content_type)

    async def get_bytes(self, bucket: str, key: str) -> bytes:
        def work() -> bytes:
            response = self._client.get_object(bucket, key)
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

        return await asyncio.to_thread(work)

    async def get_bytes_if_any(self, bucket: str, key: str) -> bytes | None:
        """The object's bytes; None when there is no such object (removed, say)."""
        try:
            return await self.get_bytes(bucket, key)
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject"):
                return None
            raise

    async def exists(self, bucket: str, key: str) -> bool:
        def work() -> bool:
            try:
                self._client.stat_object(bucket, key)
            except S3Error as exc:
                if exc.code in ("NoSuchKey", "NoSuchObject"):
                    return False
                raise
            return True

        return await asyncio.to_thread(work)

    async def remove_bucket(self, bucket: str) -> None:
        """Delete a bucket and everything in it (test clean-up)."""

        def work() -> None:
            if not self._client.bucket_exists(bucket):
                return
            for obj in self._client.list_objects(bucket, recursive=True):
                self._client.remove_object(bucket, obj.object_name)
            self._client.remove_bucket(bucket)

        await asyncio.to_thread(work)

    async def size(self, bucket: str, key: str) -> int | None:
        """The object's size in bytes, or None if there is no such object."""

        def work() -> int | None:
            try:
                return int(self._client.stat_object(bucket, key).size or 0)
            except S3Error as exc:
                if exc.code in ("NoSuchKey", "NoSuchObject"):
                    return None
                raise

        return await asyncio.to_thread(work)

    async def remove(self, bucket: str, key: str) -> None:
        await asyncio.to_thread(self._client.remove_object, bucket, key)

    async def remove_many(self, bucket: str, keys: Sequence[str]) -> None:
        """Remove objects a thousand to a request (S3's multi-object delete); a key with no
        object is not an error. Raises when the store refused any of them."""

        def work() -> None:
            for start in range(0, len(keys), 1000):
                chunk = [DeleteObject(k) for k in keys[start : start + 1000]]
                errors = [
                    e
                    for e in self._client.remove_objects(bucket, chunk)
                    if e.code not in ("NoSuchKey", "NoSuchObject")
                ]
                if errors:
                    first = errors[0]
                    raise RuntimeError(
                        f"storage refused to delete {bucket}/{first.name}: {first.code} "
                        f"{first.message}"
                    )

        await asyncio.to_thread(work)

    async def usage(self, bucket: str) -> tuple[int, int]:
        """(objects, bytes) in a bucket (capacity reports; walks the whole listing)."""

        def work() -> tuple[int, int]:
            if not self._client.bucket_exists(bucket):
                return 0, 0
            sizes = [obj.size or 0 for obj in self._client.list_objects(bucket, recursive=True)]
            return len(sizes), sum(sizes)

        return await asyncio.to_thread(work)

    async def list_keys(self, bucket: str, prefix: str) -> list[str]:
        """The keys under `prefix`, in key order."""

        def work() -> list[str]:
            objects = self._client.list_objects(bucket, prefix=prefix, recursive=True)
            return sorted(str(obj.object_name) for obj in objects)

        return await asyncio.to_thread(work)

    def presigned_put(self, bucket: str, key: str, ttl_s: int) -> str:
        """A short-lived URL a client PUTs bytes to, straight into storage."""
        return self._client.presigned_put_object(bucket, key, expires=timedelta(seconds=ttl_s))

    def presigned_get(self, bucket: str, key: str, ttl_s: int) -> str:
        """A short-lived download URL, so bytes go from storage to the browser directly."""
        if self._presigner is not None:
            return self._presigner.get(bucket, key, ttl_s)
        return self._client.presigned_get_object(bucket, key, expires=timedelta(seconds=ttl_s))
