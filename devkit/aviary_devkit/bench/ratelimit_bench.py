"""What rate limiting costs a process: our token bucket against the `limits` library.

    python -m aviary_devkit.bench.ratelimit_bench [--runs 5] [--seconds 5]

The reason shared/security/ratelimit.py keeps its own limiter is measured here (the figures
are written in that module). Two measurements, at the default settings (100/s, bursts of 300):
`per call`, a tight loop of calls over a number of callers, in microseconds a call; `paced`, a
steady rate of calls for some seconds, in milliseconds of the process's CPU (every thread) per
second, less what the loop alone costs. The second counts `limits`' in-memory storage's
expiry, which runs beside the calls (a timer thread started every 10 ms while calls arrive,
or a task in the async flavour) and walks every key it holds.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import time
from collections.abc import Callable

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio import strategies as aio
from limits.aio.storage import MemoryStorage as AsyncMemoryStorage
from limits.storage import MemoryStorage
from limits.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    SlidingWindowCounterRateLimiter,
)
from limits.strategies import RateLimiter as LibraryLimiter

from shared.security.ratelimit import RateLimiter

RATE, BURST = 100.0, 300
Take = Callable[[str], float]

# (callers, calls each): every call allowed; allowed then refused; nearly all refused.
PER_CALL = {"10000 callers x 20": (10_000, 20), "50 x 400": (50, 400), "10 x 20000": (10, 20_000)}
# (callers, calls a second): the dispatch figure's 50 annotators; many callers (a flood).
PACED = {
    "1000/s over 50": (50, 1000),
    "1000/s over 5000": (5000, 1000),
    "2000/s over 20000": (20_000, 2000),
}


def _window() -> RateLimitItem:
    """`burst` calls per burst/rate seconds: the nearest a window comes to a bucket (whole
    seconds only)."""
    return RateLimitItemPerSecond(BURST, max(1, math.ceil(BURST / RATE)))


def ours() -> Take:
    return RateLimiter(RATE, BURST).take


def library(strategy: type[LibraryLimiter]) -> Callable[[], Take]:
    def make() -> Take:
        limiter, item = strategy(MemoryStorage()), _window()

        def take(key: str) -> float:
            if limiter.hit(item, key):
                return 0.0
            return max(0.0, limiter.get_window_stats(item, key).reset_time - time.time())

        return take

    return make


CANDIDATES: dict[str, Callable[[], Take]] = {
    "ours (token bucket)": ours,
    "limits moving window": library(MovingWindowRateLimiter),
    "limits fixed window": library(FixedWindowRateLimiter),
    "limits sliding counter": library(SlidingWindowCounterRateLimiter),
}


def per_call_us(make: Callable[[], Take], callers: int, each: int) -> float:
    take = make()
    keys = [f"key:{i:032x}" for i in range(callers)] * each
    started = time.perf_counter()
    for key in keys:
        take(key)
    return (time.perf_counter() - started) / len(keys) * 1e6


def paced_cpu_ms(make: Callable[[], Take], callers: int, per_s: int, seconds: float) -> float:
    """CPU per second of a steady `per_s` calls a second, in 5 ms ticks."""
    take = make()
    keys = [f"key:{i:032x}" for i in range(callers)]
    per_tick, tick, n = max(1, int(per_s * 0.005)), 0.005, 0
    cpu, started = time.process_time(), time.perf_counter()
    due = started
    while time.perf_counter() - started < seconds:
        for _ in range(per_tick):
            take(keys[n % callers])
            n += 1
        due += tick
        time.sleep(max(0.0, due - time.perf_counter()))
    return (time.process_time() - cpu) / seconds * 1000


ASYNC_CANDIDATES: dict[str, type[aio.RateLimiter]] = {
    "limits.aio moving window": aio.MovingWindowRateLimiter,
    "limits.aio sliding counter": aio.SlidingWindowCounterRateLimiter,
}


async def paced_cpu_ms_async(
    strategy: type[aio.RateLimiter] | None, callers: int, per_s: int, seconds: float
) -> float:
    """The same in an event loop, with `limits.aio` (None: the loop alone)."""
    limiter = strategy(AsyncMemoryStorage()) if strategy is not None else None
    keys, item = [f"key:{i:032x}" for i in range(callers)], _window()
    per_tick, tick, n = max(1, int(per_s * 0.005)), 0.005, 0
    cpu, started = time.process_time(), time.perf_counter()
    due = started
    while time.perf_counter() - started < seconds:
        for _ in range(per_tick):
            if limiter is not None and not await limiter.hit(item, keys[n % callers]):
                await limiter.get_window_stats(item, keys[n % callers])
            n += 1
        due += tick
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
    return (time.process_time() - cpu) / seconds * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    print(f"per call, microseconds, median of {args.runs}")
    for scenario, (callers, each) in PER_CALL.items():
        for name, make in CANDIDATES.items():
            runs = [per_call_us(make, callers, each) for _ in range(args.runs)]
            print(f"  {scenario:<20} {name:<26} {statistics.median(runs):7.2f}", flush=True)
    print(f"paced, ms of CPU per second beyond the loop alone, median of {args.runs}")

    def nothing() -> Take:
        return lambda key: 0.0

    for scenario, (callers, per_s) in PACED.items():
        base = statistics.median(
            paced_cpu_ms(nothing, callers, per_s, args.seconds) for _ in range(args.runs)
        )
        for name, make in CANDIDATES.items():
            runs = [paced_cpu_ms(make, callers, per_s, args.seconds) for _ in range(args.runs)]
            print(f"  {scenario:<20} {name:<26} {statistics.median(runs) - base:7.1f}", flush=True)
        base = statistics.median(
            asyncio.run(paced_cpu_ms_async(None, callers, per_s, args.seconds))
            for _ in range(args.runs)
        )
        for name, strategy in ASYNC_CANDIDATES.items():
            runs = [
                asyncio.run(paced_cpu_ms_async(strategy, callers, per_s, args.seconds))
                for _ in range(args.runs)
            ]
            print(f"  {scenario:<20} {name:<26} {statistics.median(runs) - base:7.1f}", flush=True)


if __name__ == "__main__":
    main()
