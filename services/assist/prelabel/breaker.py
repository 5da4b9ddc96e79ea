"""A circuit breaker per client endpoint: after a run of failures, stop calling it for a while.

A client's model that is down would otherwise cost every item its timeouts and retries, one
after another. Closed, calls go through; `failures` failures in a row open it, and for
`cooldown_s` calls are refused at once (the items are published without pre-labels). Then it is
half-open: one trial call goes through; its success closes the breaker, its failure opens it for
another cool-down. Kept in memory, per process: each replica learns on its own, within a few
calls.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

State = Literal["closed", "open", "half_open"]


@dataclass
class CircuitBreaker:
    failures: int = 5
    cooldown_s: float = 30.0
    clock: Callable[[], float] = time.monotonic
    state: State = "closed"
    failed: int = 0  # consecutive failures while closed
    since: float = field(default=0.0)  # when it opened, or when the trial call began

    def allow(self) -> bool:
        """May a call go now? In half-open state only the one trial may (and another once a
        trial has gone unanswered for a whole cool-down)."""
        if self.state == "closed":
            return True
        if self.clock() - self.since < self.cooldown_s:
            return False
        self.state, self.since = "half_open", self.clock()
        return True

    def succeeded(self) -> None:
        self.state, self.failed = "closed", 0

    def failed_once(self) -> None:
        self.failed += 1
        if self.state == "half_open" or self.failed >= self.failures:
            self.state, self.since = "open", self.clock()


class Breakers:
    """One breaker per endpoint URL, the most recently used `kept` of them."""

    def __init__(
        self,
        failures: int = 5,
        cooldown_s: float = 30.0,
        kept: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures = failures
        self.cooldown_s = cooldown_s
        self.kept = kept
        self.clock = clock
        self._breakers: OrderedDict[str, CircuitBreaker] = OrderedDict()

    def of(self, key: str) -> CircuitBreaker:
        breaker = self._breakers.get(key)
        if breaker is None:
            breaker = CircuitBreaker(self.failures, self.cooldown_s, self.clock)
            self._breakers[key] = breaker
            while len(self._breakers) > self.kept:
                self._breakers.popitem(last=False)
        else:
            self._breakers.move_to_end(key)
        return breaker
