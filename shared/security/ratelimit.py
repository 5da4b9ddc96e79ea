"""Per-credential rate limits: a token bucket per API key, answered with 429 and Retry-After.

Keys are a hash of the bearer token (never the token itself), or the client address for calls
without one, so a flood of bad credentials is limited too. Buckets live in the process: each
replica enforces the limit on its own, which bounds a key to `replicas x rate` in the worst
case and costs no round trip on the hot path.

Why not the `limits` library (5.8, in-memory storage): measured with
`python -m aviary_devkit.bench.ratelimit_bench` (medians of 5, 2 shared cores), at the
default 100/s and bursts of 300 (there: 300 per 3 s windows).
- A call costs 6 to 16 us there (moving, fixed or sliding-counter window), 0.6 to 1 us here.
- Its storage expires keys beside the calls, walking every key it holds: a thread started
  every 10 ms while calls arrive (async flavour: a task, with a thread hop per key for the
  moving window). CPU a second at 1,000 calls a second over 50 callers (the dispatch
  benchmark's annotators): 41 to 57 ms there, 2 here; over 5,000 callers 66 to 267 ms
  (867 with limits.aio's moving window), 9 here; 2,000 a second over 20,000 callers 98 to
  356 ms, 10 here. A flood from many addresses, what a limiter is for, would make the
  limiter itself the load.
- Its windows are whole seconds and count calls; the settings here name a rate and a burst.
On the dispatch figure (50 annotators, one process; 4 interleaved runs each) the moving window
gave a median 427 tasks/s against 456 here: inside the runs' spread (264 to 564), so the
cost shows in CPU and under many keys, not yet in that figure.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.errors import error_body


@dataclass
class Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets: `rate` requests per second on average, bursts of up to `burst`."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[str, Bucket] = OrderedDict()

    def take(self, key: str) -> float:
        """Spend one token for `key`: 0 if allowed, else the seconds until one is available."""
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = Bucket(tokens=float(self.burst), updated=now)
            self._buckets[key] = bucket
            if len(self._buckets) > self.max_keys:  # forget the least recently seen key
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate


def caller_key(scope: Scope) -> str:
    """Who is calling, for rate limiting: a digest of the bearer token, else the address."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            return "key:" + hashlib.sha256(value).hexdigest()[:32]
    client = scope.get("client")
    return f"addr:{client[0] if client else 'unknown'}"


class RateLimit:
    """Pure ASGI middleware applying a RateLimiter to every API call (ops paths exempt)."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter, exempt: frozenset[str]) -> None:
        self.app = app
        self.limiter = limiter
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"] if scope["type"] == "http" else ""
        # Pages and their assets are static and carry no credential: behind a proxy every
        # browser would share one address bucket, so they are not counted.
        if not path or path in self.exempt or path.startswith("/ui/"):
            await self.app(scope, receive, send)
            return
        wait_s = self.limiter.take(caller_key(scope))
        if wait_s == 0:
            await self.app(scope, receive, send)
            return
        retry_after = max(1, math.ceil(wait_s))
        body = error_body(
            "rate_limited", f"too many requests for this credential; retry in {retry_after} s"
        )
        await JSONResponse(body, status_code=429, headers={"Retry-After": str(retry_after)})(
            scope, receive, send
        )
