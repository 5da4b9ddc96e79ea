"""What a deletion removes from assist: what it knows of the items (where their media is)
and the image embeddings it cached for them, and the project. Operators' models are the
platform's and stay; the decoded pictures it holds in memory age out of their cache."""

from __future__ import annotations

from collections.abc import Mapping

from shared.store.erasure import Erasable, ErasurePlan, ObjectRef
from shared.store.mongo import Doc
from shared.store.storage import ObjectStorage

ITEMS = "items"


def plan(storage: ObjectStorage, bucket: str) -> ErasurePlan:
    async def embeddings(found: Mapping[str, list[Doc]]) -> list[ObjectRef]:
        """Cached embeddings are named `embeddings/<encoder>/<item>-<frame>.npy`."""
        items = {doc["_id"] for doc in found.get(ITEMS, [])}
        if not items:
            return []
        keys = await storage.list_keys(bucket, "embeddings/")
        return [(bucket, k) for k in keys if k.rsplit("/", 1)[-1].rsplit("-", 1)[0] in items]

    return ErasurePlan(
        collections=(
            Erasable(ITEMS, item="_id", listed=True),
            Erasable("projects", project="_id", batch=None, item=None),
        ),
        extra_objects=embeddings,
    )
