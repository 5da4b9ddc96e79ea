"""Image sequences sent frame by frame: each frame received so far (`sequence_frames`, the
bytes wait in storage under a staging key) and each sequence's state (`sequences`): open while
frames arrive, closed once its frames became one video item (closing twice gives that item)."""

from __future__ import annotations

from services.ingest.domain import ImageInfo
from shared.store.mongo import Doc, ServiceDatabase, utcnow


def sequence_key(batch_id: str, sequence_id: str) -> str:
    return f"{batch_id}/{sequence_id}"


class SequenceRepository:
    def __init__(self, db: ServiceDatabase) -> None:
        self.sequences = db["sequences"]
        self.frames = db["sequence_frames"]

    async def ensure_indexes(self) -> None:
        await self.frames.create_index([("sequence", 1), ("index", 1)])

    async def get(self, batch_id: str, sequence_id: str) -> Doc | None:
        return await self.sequences.find_one({"_id": sequence_key(batch_id, sequence_id)})

    async def put_frame(
        self, batch: Doc, sequence_id: str, index: int, key: str, info: ImageInfo
    ) -> bool:
        """Record a frame (a frame sent again replaces the one before); False when the
        sequence was closed meanwhile."""
        sequence = sequence_key(batch["_id"], sequence_id)
        await self.sequences.update_one(
            {"_id": sequence},
            {
                "$setOnInsert": {
                    "batch_id": batch["_id"],
                    "org_id": batch["org_id"],
                    "sequence_id": sequence_id,
                    "status": "open",
                    "item_id": None,
                    "created_at": utcnow(),
                }
            },
            upsert=True,
        )
        await self.frames.replace_one(
            {"_id": f"{sequence}/{index}"},
            {
                "sequence": sequence,
                "index": index,
                "key": key,
                "sha256": info.sha256,
                "size": info.size_bytes,
                "format": info.format,
                "at": utcnow(),
            },
            upsert=True,
        )
        state = await self.get(batch["_id"], sequence_id)
        return state is not None and state["status"] == "open"

    async def frames_of(self, batch_id: str, sequence_id: str) -> list[Doc]:
        """The frames received, in index order."""
        query = {"sequence": sequence_key(batch_id, sequence_id)}
        return await self.frames.find(query).sort("index", 1).to_list(None)

    async def close(self, batch_id: str, sequence_id: str, item_id: str, frames: int) -> None:
        await self.sequences.update_one(
            {"_id": sequence_key(batch_id, sequence_id)},
            {
                "$set": {
                    "status": "closed",
                    "item_id": item_id,
                    "frames": frames,
                    "closed_at": utcnow(),
                }
            },
        )

    async def forget_frames(self, batch_id: str, sequence_id: str) -> None:
        await self.frames.delete_many({"sequence": sequence_key(batch_id, sequence_id)})
