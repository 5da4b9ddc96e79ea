"""Group commit: concurrent uploads to one batch share one transaction.

Each commit on the embedded database costs about as much as a whole bulk write, so requests
queue their items and a short-lived flusher commits everything queued for the batch at once
(many requests awaiting one bulk write). Durability is unchanged: a request is answered only
after the transaction holding its items has committed.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

from services.ingest.store import IngestStore
from shared.events import ItemIngested
from shared.store.mongo import Doc, DuplicateKeyError

Records = list[tuple[Doc, ItemIngested]]


class GroupCommitter:
    def __init__(self, store: IngestStore, max_items: int = 400, gather_s: float = 0.002) -> None:
        self.store = store
        self.max_items = max_items
        self.gather_s = gather_s
        self._queues: dict[str, list[tuple[Records, asyncio.Future[None]]]] = defaultdict(list)
        self._flushing: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def _start_flush(self, batch: Doc) -> None:
        self._flushing.add(batch["_id"])
        task = asyncio.create_task(self._flush(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def commit(self, batch: Doc, records: Records) -> None:
        """Return once `records` are committed; raise what their transaction raised."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queues[batch["_id"]].append((records, future))
        if batch["_id"] not in self._flushing:
            self._start_flush(batch)
        await future

    async def _flush(self, batch: Doc) -> None:
        try:
            await asyncio.sleep(self.gather_s)  # let concurrent requests join
            queue = self._queues[batch["_id"]]
            while queue:
                group: list[tuple[Records, asyncio.Future[None]]] = []
                size = 0
                while queue and (not group or size + len(queue[0][0]) <= self.max_items):
                    records, future = queue.pop(0)
                    group.append((records, future))
                    size += len(records)
                await self._commit_group(batch, group)
        finally:
            self._flushing.discard(batch["_id"])
            if not self._queues.get(batch["_id"]):
                self._queues.pop(batch["_id"], None)
            else:  # arrived while finishing: flush again
                self._start_flush(batch)

    async def _commit_group(
        self, batch: Doc, group: list[tuple[Records, asyncio.Future[None]]]
    ) -> None:
        ids = [doc["_id"] for records, _ in group for doc, _ in records]
        try:
            if len(set(ids)) != len(ids):
                # Two requests carry the same bytes: let the second find the first's item.
                raise DuplicateKeyError("the same item twice in one group")
            await self.store.add_items(batch, [r for records, _ in group for r in records])
        except DuplicateKeyError:
            # Someone recorded one of these first: commit each request on its own, so only
            # the request holding the duplicate sees the error.
            for records, future in group:
                try:
                    await self.store.add_items(batch, records)
                except Exception as exc:
                    future.set_exception(exc)
                else:
                    future.set_result(None)
            return
        except Exception as exc:
            for _, future in group:
                future.set_exception(exc)
            return
        for _, future in group:
            future.set_result(None)
