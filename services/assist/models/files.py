"""The bytes of operator models and of image embeddings, in object storage.

Model files are content-addressed (`sha256/ab/abcd…`): two versions with the same weights
share one object, and a version's files can never be swapped under it. An embedding is keyed
by the encoder's sha256 and the image's, so it is computed once per image and encoder, whatever
project or version asks.
"""

from __future__ import annotations

import hashlib

from shared.settings import Settings
from shared.store.storage import ObjectStorage, S3Error


def models_bucket(settings: Settings) -> str:
    """Named like the other buckets (`<namespace>-images`, `<namespace>-deliveries`)."""
    return f"{settings.namespace}-models"


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def model_key(sha256: str) -> str:
    return f"sha256/{sha256[:2]}/{sha256}"


def embedding_key(encoder_sha256: str, image_key: str) -> str:
    return f"embeddings/{encoder_sha256[:16]}/{image_key}.npy"


class ModelFiles:
    """Model files and embeddings in the models bucket."""

    def __init__(self, storage: ObjectStorage, bucket: str) -> None:
        self.storage = storage
        self.bucket = bucket

    async def ensure_bucket(self) -> None:
        await self.storage.ensure_bucket(self.bucket)

    async def put_model(self, data: bytes) -> str:
        """Store one model file (once: the same bytes are already there); its sha256."""
        sha = sha256_of(data)
        if await self.storage.size(self.bucket, model_key(sha)) != len(data):
            await self.storage.put_bytes(self.bucket, model_key(sha), data)
        return sha

    async def get_model(self, sha256: str) -> bytes:
        return await self.storage.get_bytes(self.bucket, model_key(sha256))

    async def put_embedding(self, encoder_sha256: str, image_key: str, data: bytes) -> None:
        await self.storage.put_bytes(self.bucket, embedding_key(encoder_sha256, image_key), data)

    async def get_embedding(self, encoder_sha256: str, image_key: str) -> bytes | None:
        """The stored embedding, or None when there is none yet."""
        try:
            return await self.storage.get_bytes(
                self.bucket, embedding_key(encoder_sha256, image_key)
            )
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject"):
                return None
            raise
