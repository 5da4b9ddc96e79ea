"""Heaps whose entries go stale: the in-memory work queues of dispatch and review.

Removing from the middle of a heap is costly, so a removed or re-queued entry stays in the heap
and is dropped when it surfaces (`live` says whether it still stands). Entries the caller may
not take now (another annotator's rework, a reviewer's own work) are put back afterwards.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any, TypeVar

V = TypeVar("V")

# (sort key, tie-breaking counter, value): the counter keeps values from ever being compared.
Queued = tuple[Any, int, V]


def pop_first(
    heap: list[Queued[V]], live: Callable[[V], bool], allowed: Callable[[V], bool]
) -> V | None:
    """Remove and return the smallest live value that `allowed` accepts, or None."""
    skipped: list[Queued[V]] = []
    found: V | None = None
    while heap:
        entry = heapq.heappop(heap)
        value = entry[2]
        if not live(value):
            continue
        if allowed(value):
            found = value
            break
        skipped.append(entry)
    for entry in skipped:
        heapq.heappush(heap, entry)
    return found
