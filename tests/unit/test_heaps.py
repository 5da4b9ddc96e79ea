"""Heaps with stale entries: the smallest live, allowed value comes out; the rest stays."""

from __future__ import annotations

import heapq
import itertools

from shared.heaps import Queued, pop_first


def heap_of(values: list[tuple[int, str]]) -> list[Queued[str]]:
    counter = itertools.count()
    heap: list[Queued[str]] = []
    for key, value in values:
        heapq.heappush(heap, (key, next(counter), value))
    return heap


def test_stale_entries_are_dropped_and_skipped_ones_put_back() -> None:
    heap = heap_of([(1, "gone"), (2, "theirs"), (3, "mine"), (4, "later")])
    live = {"theirs", "mine", "later"}
    taken = pop_first(heap, lambda v: v in live, lambda v: v != "theirs")
    assert taken == "mine"
    # "gone" is dropped for good, "theirs" is back in place, "later" untouched.
    assert sorted(v for _, _, v in heap) == ["later", "theirs"]
    assert heap[0][2] == "theirs"
    assert pop_first(heap, lambda v: v in live, lambda v: True) == "theirs"


def test_equal_keys_come_out_in_the_order_they_went_in_and_none_when_nothing_fits() -> None:
    heap = heap_of([(5, "first"), (5, "second")])
    assert pop_first(heap, lambda v: True, lambda v: True) == "first"
    assert pop_first(heap, lambda v: True, lambda v: False) is None
    assert [v for _, _, v in heap] == ["second"]
    assert pop_first([], lambda v: True, lambda v: True) is None
