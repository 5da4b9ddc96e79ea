"""Group commit of uploads: concurrent uploads to one batch share one transaction.

Each commit on the embedded database costs about as much as a whole bulk write, so requests
queue their items and one flusher per batch commits everything queued at once
(`shared/store/batching.py`; groups never mix batches). Durability is unchanged: a request is
answered only after the transaction holding its items has committed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.ingest.ledger import BatchLedger
from shared.events import ItemIngested
from shared.store.batching import Batcher, KeyedBatcher
from shared.store.mongo import Doc, DuplicateKeyError

Records = list[tuple[Doc, ItemIngested]]


@dataclass(frozen=True)
class Upload:
    """One request's items, for one batch."""

    batch: Doc
    records: Records


class GroupCommitter:
    def __init__(self, ledger: BatchLedger, max_items: int = 400, gather_s: float = 0.002) -> None:
        self.ledger = ledger
        self._batches: KeyedBatcher[str, Upload, None] = KeyedBatcher(
            lambda _: Batcher(
                self._commit_group,
                max_size=max_items,
                gather_s=gather_s,
                weight=lambda upload: len(upload.records),
            )
        )

    async def commit(self, batch: Doc, records: Records) -> None:
        """Return once `records` are committed; raise what their transaction raised."""
        await self._batches.submit(batch["_id"], Upload(batch, records))

    async def _commit_group(self, uploads: Sequence[Upload]) -> list[BaseException | None]:
        ids = [doc["_id"] for upload in uploads for doc, _ in upload.records]
        try:
            if len(set(ids)) != len(ids):
                # Two requests carry the same bytes: let the second find the first's item.
                raise DuplicateKeyError("the same item twice in one group")
            await self.ledger.add_items(uploads[0].batch, [r for u in uploads for r in u.records])
        except DuplicateKeyError:
            # Someone recorded one of these first: commit each request on its own, so only
            # the request holding the duplicate sees the error.
            return [await self._commit_alone(upload) for upload in uploads]
        return [None] * len(uploads)

    async def _commit_alone(self, upload: Upload) -> BaseException | None:
        try:
            await self.ledger.add_items(upload.batch, upload.records)
        except Exception as exc:
            return exc
        return None
