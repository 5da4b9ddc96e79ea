"""Dispatch processes killed, stopped and run side by side, with tasks leased: nothing is lost
and nothing is doubled.

Only dispatch runs here (as real processes, on their own ports); the tasks are made by
dispatch's own event handler code, and what dispatch publishes is read straight from
review's queue: one `task.submitted` per task, each with one submission.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from aviary_devkit.bench import dispatch_bench
from aviary_devkit.processes import ServiceSet, cleanup_namespace, isolated_settings
from shared.events import Envelope
from shared.messaging import Broker, QueueNames
from shared.security.auth import Role, issue_token
from shared.settings import Settings

pytestmark = pytest.mark.e2e

TTL_S = 3
BOX = {"class_id": 1, "bbox": [10, 10, 50, 40]}


@pytest.fixture
def settings(stack: None) -> Iterator[Settings]:
    s = isolated_settings(lease_ttl_s=TTL_S, lease_sweep_s=0.3, pool_sync_s=0.5)
    yield s
    asyncio.run(cleanup_namespace(s))


@pytest.fixture
def dispatch(settings: Settings, tmp_path: Path) -> Iterator[ServiceSet]:
    # Below 32768, where the system picks its own outgoing ports: no clash with a client socket.
    services = ServiceSet(settings, tmp_path / "logs", port_offset=19_000)
    yield services
    services.stop_all()


class Annotator:
    def __init__(self, http: httpx.AsyncClient, settings: Settings, name: str) -> None:
        self.http = http
        self.token = issue_token(settings, sub=name, org=dispatch_bench.VENDOR, role=Role.ANNOTATOR)

    async def next(self, base: str, wait_s: float = 0) -> dict[str, Any] | None:
        response = await self._post(base, "/v1/tasks/next", params={"wait_s": wait_s})
        if response.status_code == 204:
            return None
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def submit(self, base: str, task: dict[str, Any]) -> int:
        body = {"lease_id": task["lease_id"], "annotation": {"shapes": [BOX]}}
        response = await self._post(base, f"/v1/tasks/{task['id']}/submit", json=body)
        assert response.status_code in (200, 409), response.text
        return response.status_code

    async def _post(self, base: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return await self.http.post(base + path, headers=headers, timeout=60, **kwargs)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


async def submissions(settings: Settings) -> dict[str, set[str]]:
    """task id -> the submission ids published for it (redelivered events count once)."""
    broker = Broker(settings)
    await broker.connect()
    channel = await broker.channel()
    queue = await channel.get_queue(QueueNames(settings.namespace, "review").main)
    found: dict[str, set[str]] = defaultdict(set)
    while (message := await queue.get(fail=False, timeout=2)) is not None:
        envelope = Envelope.model_validate_json(message.body)
        if envelope.type.value == "task.submitted":
            found[envelope.data["task_id"]].add(envelope.data["submission_id"])
        await message.ack()
    await channel.close()
    await broker.close()
    return found


async def published(settings: Settings, tasks: int, timeout_s: float = 30) -> dict[str, set[str]]:
    """Wait until every task's submission is on the bus (the relay runs after commit)."""
    seen: dict[str, set[str]] = defaultdict(set)
    deadline = time.monotonic() + timeout_s
    while len(seen) < tasks and time.monotonic() < deadline:
        for task_id, subs in (await submissions(settings)).items():
            seen[task_id] |= subs
        await asyncio.sleep(0.5)
    return seen


async def drain(
    annotator: Annotator, base: str, done: set[str], tasks: int, timeout_s: float
) -> list[float]:
    """Lease and submit until every task is done; the times (from now) of each lease."""
    started = time.monotonic()
    leased_at = []
    while len(done) < tasks and time.monotonic() - started < timeout_s:
        task = await annotator.next(base, wait_s=2)
        if task is None:
            continue
        leased_at.append(time.monotonic() - started)
        if await annotator.submit(base, task) == 200:
            done.add(task["id"])
    return leased_at


def start(services: ServiceSet, key: str = "dispatch") -> None:
    if key == "dispatch":
        services.start("dispatch")
    else:
        services.start_replica("dispatch", int(key.split("-")[1]))
    services.wait_ready(key)


async def test_a_sigkill_with_tasks_leased_loses_nothing_and_doubles_nothing(
    settings: Settings, dispatch: ServiceSet, http: httpx.AsyncClient
) -> None:
    tasks = 20
    await dispatch_bench.seed(settings, tasks)
    start(dispatch)
    base = dispatch.url("dispatch")
    people = [Annotator(http, settings, f"ann-{i}") for i in range(8)]
    held = [await p.next(base, wait_s=5) for p in people]
    assert all(held) and len({t["id"] for t in held if t}) == 8
    done: set[str] = set()
    for person, task in zip(people[:2], held[:2], strict=True):
        assert task is not None and await person.submit(base, task) == 200
        done.add(task["id"])

    dispatch.kill("dispatch")  # SIGKILL, six tasks leased
    killed_at = time.monotonic()
    start(dispatch)
    # Holders who come back within their lease keep their task: the new process finds the
    # lease in the claim chain.
    for person, task in zip(people[2:5], held[2:5], strict=True):
        assert task is not None and await person.submit(base, task) == 200
        done.add(task["id"])
    # Three holders never come back: their leases were the dead process's, and the new one's
    # sweep frees them once they expire (nothing to take over: leases live in the database).
    newcomer = Annotator(http, settings, "newcomer")
    budget = TTL_S + 20
    await drain(newcomer, base, done, tasks, timeout_s=budget)
    assert len(done) == tasks, f"{tasks - len(done)} tasks never came back"
    assert time.monotonic() - killed_at < budget
    # Too late: their tasks went to someone else.
    for person, task in zip(people[5:], held[5:], strict=True):
        assert task is not None and await person.submit(base, task) == 409

    seen = await published(settings, tasks)
    assert set(seen) == done
    assert all(len(subs) == 1 for subs in seen.values()), seen


async def test_after_a_graceful_stop_its_leases_are_freed_at_their_expiry(
    settings: Settings, dispatch: ServiceSet, http: httpx.AsyncClient
) -> None:
    await dispatch_bench.seed(settings, 2)
    start(dispatch)
    base = dispatch.url("dispatch")
    leaver = Annotator(http, settings, "leaver")
    task = await leaver.next(base, wait_s=5)
    assert task is not None
    dispatch.kill("dispatch", signal.SIGTERM)
    start(dispatch)
    stopped_at = time.monotonic()
    other = Annotator(http, settings, "other")
    done: set[str] = set()
    leased_at = await drain(other, base, done, 2, timeout_s=TTL_S + 10)
    assert task["id"] in done
    # Freed by the new process's sweep within the lease's life and a sweep or two.
    assert max(leased_at) < TTL_S + 4, leased_at
    assert time.monotonic() - stopped_at < TTL_S + 4


async def test_two_processes_hand_out_each_task_once(
    settings: Settings, dispatch: ServiceSet, http: httpx.AsyncClient
) -> None:
    tasks = 60
    await dispatch_bench.seed(settings, tasks)
    start(dispatch)
    start(dispatch, "dispatch-1")
    bases = [dispatch.url("dispatch"), f"http://127.0.0.1:{dispatch.port('dispatch', 1)}"]
    people = [Annotator(http, settings, f"ann-{i}") for i in range(10)]
    done: set[str] = set()
    lost = 0

    async def work(i: int) -> None:
        nonlocal lost
        base = bases[i % 2]
        deadline = time.monotonic() + 60
        while len(done) < tasks and time.monotonic() < deadline:
            task = await people[i].next(base, wait_s=1)
            if task is None:
                continue
            if await people[i].submit(base, task) == 200:
                assert task["id"] not in done, "one task was handed out twice"
                done.add(task["id"])
            else:
                lost += 1

    await asyncio.gather(*(work(i) for i in range(10)))
    assert len(done) == tasks and lost == 0
    seen = await published(settings, tasks)
    assert set(seen) == done and all(len(subs) == 1 for subs in seen.values())
