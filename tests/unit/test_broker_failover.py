"""Several RabbitMQ URLs: how they are read, in which order nodes are tried, and the broker
moving to another node when its node goes away (fake connections; the real thing runs in
tests/chaos/test_cluster.py against a three-node cluster)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

from shared.messaging import broker as broker_module
from shared.messaging.broker import QUORUM, Broker, quorum_arguments
from shared.messaging.failover import after_loss, connect_any, redact, rotation
from shared.settings import Settings

NODES = [f"amqp://guest:secret@127.0.0.1:{port}/" for port in (5681, 5682, 5683)]


# ---- settings --------------------------------------------------------------------------------


def test_one_url_by_default_and_the_same_queue_arguments_as_before() -> None:
    settings = Settings()
    assert settings.amqp_urls == []
    assert settings.broker_urls == [settings.amqp_url]
    assert quorum_arguments(settings) == QUORUM == {"x-queue-type": "quorum"}
    assert not Broker(settings).fails_over


@pytest.mark.parametrize(
    "raw",
    [
        ",".join(NODES),
        " , ".join(NODES) + ",",
        json.dumps(NODES),
    ],
)
def test_urls_come_as_commas_or_a_json_list(raw: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AVIARY_AMQP_URLS", raw)
    monkeypatch.setenv("AVIARY_QUORUM_GROUP_SIZE", "3")
    settings = Settings()
    assert settings.broker_urls == NODES
    assert quorum_arguments(settings) == {
        "x-queue-type": "quorum",
        "x-quorum-initial-group-size": 3,
    }
    assert Broker(settings).fails_over


def test_an_empty_list_falls_back_to_the_single_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AVIARY_AMQP_URLS", "")
    monkeypatch.setenv("AVIARY_AMQP_URL", NODES[1])
    assert Settings().broker_urls == [NODES[1]]


def test_passwords_are_not_logged() -> None:
    assert redact(NODES[0]) == "amqp://guest:***@127.0.0.1:5681/"
    assert redact("amqp://127.0.0.1:5672/") == "amqp://127.0.0.1:5672/"


# ---- order -----------------------------------------------------------------------------------


def test_rotation_and_the_order_after_a_loss() -> None:
    assert rotation(3, 0) == [0, 1, 2]
    assert rotation(3, 2) == [2, 0, 1]
    assert rotation(1, 0) == [0]
    # After losing node 1: node 2, then node 0, the lost one last (it may be back by then).
    assert after_loss(3, 1) == [2, 0, 1]
    assert after_loss(3, 2) == [0, 1, 2]
    assert after_loss(1, 0) == [0]
    with pytest.raises(ValueError):
        rotation(0, 0)


async def test_connect_any_skips_nodes_that_refuse() -> None:
    tried: list[str] = []

    async def open_node(url: str) -> str:
        tried.append(url)
        if url != NODES[0]:
            raise ConnectionRefusedError(url)
        return f"connection to {url}"

    index, connection = await connect_any(NODES, after_loss(3, 0), open_node)
    assert tried == [NODES[1], NODES[2], NODES[0]]
    assert (index, connection) == (0, f"connection to {NODES[0]}")


async def test_connect_any_raises_the_last_error_when_no_node_answers() -> None:
    async def open_node(url: str) -> str:
        raise TimeoutError(url)

    with pytest.raises(TimeoutError, match="5682"):
        await connect_any(NODES, [2, 0, 1], open_node)


async def test_other_errors_are_not_taken_for_a_node_being_down() -> None:
    async def open_node(url: str) -> str:
        raise ValueError("a bug, not an outage")

    with pytest.raises(ValueError, match="a bug"):
        await connect_any(NODES, [0, 1, 2], open_node)


# ---- the broker failing over (fakes for aio-pika) --------------------------------------------


class FakeCallbacks:
    def __init__(self) -> None:
        self.callbacks: list[Callable[..., Any]] = []

    def add(self, callback: Callable[..., Any]) -> None:
        self.callbacks.append(callback)


class FakeChannel:
    async def get_exchange(self, name: str) -> str:
        return f"exchange {name}"


class FakeConnection:
    def __init__(self, url: str) -> None:
        self.url = url
        self.close_callbacks = FakeCallbacks()
        self.close_called = False
        self.is_closed = False

    async def channel(self, publisher_confirms: bool = True) -> FakeChannel:
        return FakeChannel()

    async def close(self) -> None:
        self.close_called = self.is_closed = True
        for callback in self.close_callbacks.callbacks:
            callback(self, None)

    def die(self) -> None:
        """The node went away: the connection closes without anyone asking."""
        self.is_closed = True
        for callback in self.close_callbacks.callbacks:
            callback(self, ConnectionResetError("node died"))


class FakeCluster:
    def __init__(self) -> None:
        self.down: set[str] = set()
        self.opened: list[FakeConnection] = []
        self.attempts: list[str] = []

    async def connect(self, url: str, timeout: float | None = None) -> FakeConnection:
        self.attempts.append(url)
        if url in self.down:
            raise ConnectionRefusedError(url)
        self.opened.append(FakeConnection(url))
        return self.opened[-1]


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> FakeCluster:
    fake = FakeCluster()

    async def no_topology(channel: object, settings: Settings) -> None:
        pass

    monkeypatch.setattr("aio_pika.connect", fake.connect)
    monkeypatch.setattr(broker_module, "declare_topology", no_topology)
    return fake


async def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not met"
        await asyncio.sleep(0.01)


async def test_the_broker_moves_to_the_next_node_and_reattaches_consumers(
    cluster: FakeCluster,
) -> None:
    broker = Broker(Settings(amqp_urls=NODES))
    broker.node = 1  # where a process starts is random; fixed here
    await broker.connect()
    assert broker.is_connected and broker.node == 1
    assert cluster.attempts == [NODES[1]]
    reattached: list[str] = []

    async def reattach() -> None:
        assert broker.connection is not None
        reattached.append(broker.connection.url)  # type: ignore[attr-defined]

    broker.on_reconnect(reattach)

    # Node b dies, and node c is down too: the broker ends up on node a.
    cluster.down = {NODES[1], NODES[2]}
    cluster.opened[-1].die()
    assert not broker.is_connected
    await wait_for(lambda: reattached == [NODES[0]])
    assert cluster.attempts == [NODES[1], NODES[2], NODES[0]]
    assert broker.node == 0 and broker.is_connected

    # Node a dies while b is back: the broker goes to b (c is still down).
    cluster.down = {NODES[0], NODES[2]}
    cluster.opened[-1].die()
    await wait_for(lambda: reattached == [NODES[0], NODES[1]])
    assert cluster.attempts[3:] == [NODES[1]]

    # Closing on purpose fails over nowhere.
    await broker.close()
    await asyncio.sleep(0.05)
    assert len(cluster.attempts) == 4 and reattached == [NODES[0], NODES[1]]


async def test_the_broker_keeps_trying_while_every_node_is_down(cluster: FakeCluster) -> None:
    broker = Broker(Settings(amqp_urls=NODES))
    broker.node = 0
    await broker.connect()
    cluster.down = set(NODES)
    cluster.opened[-1].die()
    await wait_for(lambda: len(cluster.attempts) >= 7)  # two rounds and more, with back-off
    assert not broker.is_connected
    cluster.down = {NODES[0], NODES[1]}
    await wait_for(lambda: broker.is_connected, timeout=10)
    assert broker.node == 2
    await broker.close()


@pytest.mark.parametrize(
    "error",
    [ConnectionResetError("node b went away while we attached"), RuntimeError("channel closed")],
)
async def test_a_consumer_that_cannot_attach_sends_the_broker_on_to_the_next_node(
    cluster: FakeCluster, error: Exception
) -> None:
    broker = Broker(Settings(amqp_urls=NODES))
    broker.node = 0
    await broker.connect()
    attached: list[str] = []

    async def attach() -> None:
        assert broker.connection is not None
        url: str = broker.connection.url  # type: ignore[attr-defined]
        if url == NODES[1]:
            raise error
        attached.append(url)

    broker.on_reconnect(attach)
    cluster.opened[-1].die()
    await wait_for(lambda: attached == [NODES[2]])
    assert cluster.attempts == [NODES[0], NODES[1], NODES[2]]
    assert cluster.opened[1].close_called  # the half-attached connection to b was closed
    await broker.close()


async def test_initial_connect_tries_each_node_then_retries(cluster: FakeCluster) -> None:
    broker = Broker(Settings(amqp_urls=NODES))
    broker.node = 2
    cluster.down = set(NODES)
    with pytest.raises(ConnectionRefusedError):
        await broker.connect(attempts=1)
    assert cluster.attempts == [NODES[2], NODES[0], NODES[1]]
