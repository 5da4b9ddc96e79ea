"""Which RabbitMQ node to connect to, and which next when it goes away.

aio-pika's robust connection reconnects to the one URL it was given, forever: with a cluster
and no load balancer in front, a process whose node died would wait for that node to come
back. So with several URLs (`AVIARY_AMQP_URLS`) the broker tries the nodes in turn: first
from a node picked at random (processes spread over the cluster instead of all landing on the
first node), after a loss from the node after the lost one, wrapping around, the lost node
last. A node that refuses, times out or cannot declare the topology (a node cut off from the
majority cannot) is skipped. This module is the pure part of that: the order and the
one-pass attempt; `Broker` owns the connections.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import aio_pika

log = logging.getLogger(__name__)

T = TypeVar("T")

# What a node that is down, unreachable, paused or half-up answers with.
CONNECT_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionError,
    OSError,
    TimeoutError,
    aio_pika.exceptions.AMQPError,
)

_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@/\s]*@")


def redact(url: str) -> str:
    """The URL without its password, for logs."""
    return _PASSWORD.sub(r"\1***@", url)


def rotation(count: int, start: int) -> list[int]:
    """Every node index once, beginning at `start` and wrapping around."""
    if count < 1:
        raise ValueError("at least one node is needed")
    return [(start + i) % count for i in range(count)]


def after_loss(count: int, lost: int) -> list[int]:
    """The order to try after losing node `lost`: the following nodes first, `lost` last."""
    return rotation(count, (lost + 1) % count)


async def connect_any(
    urls: Sequence[str], order: Sequence[int], open_node: Callable[[str], Awaitable[T]]
) -> tuple[int, T]:
    """Try the nodes once each in `order`; the first that opens wins: (its index, what
    `open_node` returned). When none does, the last node's error is raised."""
    last: BaseException | None = None
    for index in order:
        try:
            return index, await open_node(urls[index])
        except CONNECT_ERRORS as exc:
            log.warning(
                "broker.node_unavailable",
                extra={"node": redact(urls[index]), "error": f"{type(exc).__name__}: {exc}"},
            )
            last = exc
    if last is None:
        raise ValueError("no node to try")
    raise last
