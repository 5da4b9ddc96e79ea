"""Graceful stops and patient starts, with the services as real processes."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aviary_devkit.processes import ServiceSet, cleanup_namespace, isolated_settings
from shared.settings import Settings
from tests.e2e.test_slice import check_delivery, flow

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("victim", ["dispatch", "review"])
async def test_sigterm_stops_within_bound_and_loses_nothing(
    services: ServiceSet, tmp_path: Path, victim: str
) -> None:
    f = flow(services, tmp_path, images=12, error_rate=0.25, seed=21)
    run = asyncio.create_task(f.run())
    try:
        for _ in range(600):
            if f.stats.submissions >= 3 or run.done():
                break
            await asyncio.sleep(0.05)
        assert not run.done(), "the flow ended before the stop could be sent"
        log = services.log_dir / f"{victim}.log"
        stopped_before = log.read_text().count('"service.stopped"')
        started = time.monotonic()
        await asyncio.to_thread(services.kill, victim, signal.SIGTERM)
        # Stop taking work, finish what is in flight, hand back the rest: within the bound.
        assert time.monotonic() - started < 15
        # Uvicorn re-raises the signal after its graceful shutdown; the log shows it finished.
        assert services.procs[victim].returncode in (0, -signal.SIGTERM)
        assert log.read_text().count('"service.stopped"') == stopped_before + 1
        services.start(victim)
        await asyncio.to_thread(services.wait_ready, victim)
        result = await run
    finally:
        await f.close()
    check_delivery(result, tmp_path)


class Gate:
    """A TCP forwarder to the database that can be closed and opened: a dependency outage."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.server: asyncio.Server | None = None
        self.port = 0

    async def open(self) -> None:
        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            writer.close()

        async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target_port)
            await asyncio.gather(pipe(client_r, server_w), pipe(server_r, client_w))

        self.server = await asyncio.start_server(handle, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None


def free_port_below_the_ephemeral_range() -> int:
    """A port nobody listens on and the kernel never hands out to outgoing connections, so a
    client retrying against it cannot end up connected to itself."""
    for port in range(27_100, 27_300):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError("no free port")


@pytest.fixture
async def gate() -> AsyncIterator[Gate]:
    g = Gate(27017)
    g.port = free_port_below_the_ephemeral_range()  # closed for now: the database is "down"
    yield g
    await g.close()


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


async def test_a_service_started_while_its_database_is_down_waits_then_becomes_ready(
    stack: None, gate: Gate, tmp_path: Path
) -> None:
    settings = isolated_settings(
        mongo_url=f"mongodb://127.0.0.1:{gate.port}/?directConnection=true"
    )
    service = ServiceSet(settings, tmp_path, port_offset=21_000)
    service.start("dispatch")
    url = service.url("dispatch")
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if await asyncio.to_thread(get, f"{url}/healthz") == 200:
                    break
            await asyncio.sleep(0.2)
        # Alive, answering, not ready; API calls are refused with Retry-After, not crashed.
        assert await asyncio.to_thread(get, f"{url}/readyz") == 503
        assert await asyncio.to_thread(get, f"{url}/v1/tasks/nonexistent") == 503
        await asyncio.sleep(6)
        assert service.procs["dispatch"].poll() is None, "it must wait, not crash"
        await gate.open()  # the database comes back
        await asyncio.to_thread(service.wait_ready, "dispatch", 60)
        assert await asyncio.to_thread(get, f"{url}/readyz") == 200
    finally:
        service.stop_all()
        await gate.close()
        await cleanup_namespace(settings.model_copy(update={"mongo_url": Settings().mongo_url}))
