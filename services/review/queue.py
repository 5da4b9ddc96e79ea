"""What waits for a human, per vendor, oldest first, decided in memory.

As in dispatch, the database stays the truth: a claim is a conditional write, and this index
only saves `next` a query (on the embedded database a filtered read costs time in proportion
to the collection). It is fed by this process's own events and re-read now and then.
"""

from __future__ import annotations

import heapq
import itertools
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from shared.heaps import Queued, pop_first

Doc = dict[str, Any]


class ReviewQueue:
    def __init__(self) -> None:
        self._clear()

    def _clear(self) -> None:
        self._docs: dict[str, Doc] = {}
        self._heaps: dict[str, list[Queued[Doc]]] = defaultdict(list)
        self._counter = itertools.count()

    def __len__(self) -> int:
        return len(self._docs)

    def __contains__(self, unit_id: str) -> bool:
        return unit_id in self._docs

    def add(self, doc: Doc) -> None:
        """`doc` needs `_id`, `queued_at` and `vendor_id` (or `queue`: the organisation whose
        reviewers see it, when not the vendor's)."""
        self._docs[doc["_id"]] = doc
        owner = doc.get("queue") or doc["vendor_id"]
        heapq.heappush(self._heaps[owner], (doc["queued_at"], next(self._counter), doc))

    def remove(self, unit_id: str) -> None:
        self._docs.pop(unit_id, None)

    def replace_all(self, docs: list[Doc]) -> None:
        self._clear()
        for doc in docs:
            self.add(doc)

    def take(self, vendor_id: str, allowed: Callable[[Doc], bool] = lambda _: True) -> Doc | None:
        """Remove and return the oldest unit of this vendor that `allowed` accepts."""
        heap = self._heaps.get(vendor_id)
        if not heap:
            return None
        # A doc removed, or queued again since (a new doc under its id), is stale.
        found = pop_first(heap, lambda doc: self._docs.get(doc["_id"]) is doc, allowed)
        if found is not None:
            del self._docs[found["_id"]]
        return found
