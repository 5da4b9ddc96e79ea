"""Group commit: concurrent requests share one flush and each gets its own outcome."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from shared.store.batching import Batcher, KeyedBatcher


async def test_concurrent_requests_share_flushes_and_get_their_own_results() -> None:
    groups: list[list[int]] = []

    async def flush(requests: Sequence[int]) -> list[int | BaseException]:
        groups.append(list(requests))
        await asyncio.sleep(0.01)
        return [ValueError(f"odd {r}") if r % 2 else r * 10 for r in requests]

    batcher: Batcher[int, int] = Batcher(flush, max_size=8)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(20)), return_exceptions=True)
    assert [r for r in results if not isinstance(r, BaseException)] == list(range(0, 200, 20))
    assert [str(r) for r in results if isinstance(r, BaseException)] == [
        f"odd {i}" for i in range(1, 20, 2)
    ]
    assert sorted(r for g in groups for r in g) == list(range(20))
    assert len(groups) == 3 and max(map(len, groups)) == 8


async def test_a_failed_flush_fails_every_request_of_its_group_and_the_next_group_runs() -> None:
    calls = 0

    async def flush(requests: Sequence[str]) -> list[str | BaseException]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("database down")
        return list(requests)

    batcher: Batcher[str, str] = Batcher(flush)
    first = await asyncio.gather(batcher.submit("a"), batcher.submit("b"), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in first)
    assert await batcher.submit("c") == "c"


async def test_a_flush_answering_the_wrong_number_of_requests_is_an_error() -> None:
    async def flush(requests: Sequence[int]) -> list[int | BaseException]:
        return []

    with pytest.raises(RuntimeError, match="answered 0 of 1"):
        await Batcher(flush).submit(1)


async def test_groups_overlap_up_to_in_flight_and_each_request_is_answered_once() -> None:
    running = 0
    most = 0
    groups: list[list[int]] = []

    async def flush(requests: Sequence[int]) -> list[int | BaseException]:
        nonlocal running, most
        running += 1
        most = max(most, running)
        groups.append(list(requests))
        await asyncio.sleep(0.02)
        running -= 1
        return [r + 1 for r in requests]

    batcher: Batcher[int, int] = Batcher(flush, max_size=5, gather_s=0.001, in_flight=3)

    async def later(i: int) -> int:
        await asyncio.sleep(0.004 * (i // 5))  # requests keep arriving while groups run
        return await batcher.submit(i)

    results = await asyncio.gather(*(later(i) for i in range(40)))
    assert results == [i + 1 for i in range(40)]
    assert sorted(r for g in groups for r in g) == list(range(40))
    assert most == 3  # never more than in_flight at once, and it did overlap
    assert max(map(len, groups)) <= 5


async def test_groups_are_sized_by_weight_and_a_heavy_request_goes_alone() -> None:
    groups: list[list[list[int]]] = []

    async def flush(requests: Sequence[list[int]]) -> list[int | BaseException]:
        groups.append(list(requests))
        return [len(r) for r in requests]

    batcher: Batcher[list[int], int] = Batcher(flush, max_size=10, weight=len)
    sizes = [4, 4, 4, 12, 3, 3]
    results = await asyncio.gather(*(batcher.submit([0] * n) for n in sizes))
    assert results == sizes
    assert [[len(r) for r in g] for g in groups] == [[4, 4], [4], [12], [3, 3]]


async def test_keys_never_share_a_group_and_an_idle_key_leaves_nothing_behind() -> None:
    groups: list[tuple[str, ...]] = []

    async def flush(requests: Sequence[str]) -> list[str | BaseException]:
        groups.append(tuple(requests))
        await asyncio.sleep(0.005)
        return [r.upper() for r in requests]

    keyed: KeyedBatcher[str, str, str] = KeyedBatcher(lambda _: Batcher(flush, max_size=100))
    calls = [("a", "a1"), ("b", "b1"), ("a", "a2"), ("b", "b2"), ("a", "a3")]
    results = await asyncio.gather(*(keyed.submit(key, request) for key, request in calls))
    assert results == ["A1", "B1", "A2", "B2", "A3"]
    assert sorted(groups) == [("a1", "a2", "a3"), ("b1", "b2")]
    await asyncio.sleep(0)  # the flushers' done callbacks
    assert len(keyed) == 0
    # A key used again after going idle gets a fresh batcher and still works.
    assert await keyed.submit("a", "a4") == "A4"
    await asyncio.sleep(0)
    assert len(keyed) == 0
