"""A service's figures minute by minute (GET /v1/rollups on every service), which the
operator's dashboard charts."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class RollupMinute(BaseModel):
    minute: datetime  # its start, UTC (of its `step` minutes, when asked for by more than one)
    events: int  # events handled
    failed: int  # events that failed (retried or dead-lettered)
    requests: int
    p50_ms: float | None  # request latency quantiles, from the histogram's buckets
    p99_ms: float | None
    queue: int | None  # messages waiting at the highest reading of the minute
    dead_letters: int | None
    outbox: int | None  # events not yet relayed to the broker
    oldest_event_s: float | None = None  # the oldest event handled, from when it happened
    # The pipeline's stages passed this minute, where they publish: ingested, labeled,
    # rejected, accepted, delivered (a delivery, not its images).
    stages: dict[str, int] = {}


class Rollups(BaseModel):
    service: str
    since: datetime
    until: datetime
    minutes: list[RollupMinute]
