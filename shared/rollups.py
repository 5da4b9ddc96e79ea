"""Per-minute rollups of a process's own metrics, kept in its service's database, so that the
dashboard charts the platform over time with no extra server on the embedded stack (in
production Prometheus scrapes the same metrics: deploy/grafana/ draws the same charts).

Every `rollup_interval_s` each process reads its Prometheus counters and gauges
(`shared/observability.py`) and adds what changed since its last reading to the document of
the current minute and process (`<minute>|<process>`; the retention sweep's index on `minute`
serves the reads): events handled and failed, the pipeline's stages passed (the events each
stage publishes: items ingested, tasks labeled and rejected, items accepted, deliveries
ready), requests and their latency histogram's buckets (`$inc`); queue depth, dead letters
and outbox backlog (`$max`, as gauges). A minute's figures are those documents summed at
read time, its latency quantiles computed from the summed buckets as Prometheus'
`histogram_quantile` does. The retention sweep drops rollups after `rollup_retention_s`
(shared/store/retention.py)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from prometheus_client.registry import Collector

from shared.observability import (
    EVENTS_CONSUMED,
    EVENTS_PUBLISHED,
    LATENCY_BUCKETS,
    OUTBOX_BACKLOG,
    QUEUE_DEPTH,
    SERVICE_LATENCY,
    take_oldest_event_age,
)
from shared.store.mongo import Doc, ServiceDatabase, utcnow

COLLECTION = "rollups"
# The same figures by quarter hour, written beside the minutes': a week is 672 of them to read
# rather than 10,080 (the dashboard's week view).
QUARTERS = "rollups_15m"
QUARTER = 15
PROCESS = f"{socket.gethostname()}:{os.getpid()}"
# The latency histogram's upper bounds, in order (its +Inf bucket is the request count).
BOUNDS: tuple[float, ...] = LATENCY_BUCKETS
GAUGES = ("queue", "dead_letters", "outbox", "oldest_event_s")
READ: tuple[Collector, ...] = (
    EVENTS_CONSUMED,
    EVENTS_PUBLISHED,
    SERVICE_LATENCY,
    QUEUE_DEPTH,
    OUTBOX_BACKLOG,
)
# The pipeline's stages, by the event each one publishes: counted where it is published.
STAGES = {
    "item.ingested": "ingested",
    "task.submitted": "labeled",
    "task.rejected": "rejected",
    "item.accepted": "accepted",
    "delivery.ready": "delivered",
}


@dataclass
class Reading:
    """A process's cumulative counters and current gauges at one moment."""

    counts: dict[str, float] = field(default_factory=dict)  # events, failed, requests, b<i>
    gauges: dict[str, float] = field(default_factory=dict)  # queue, dead_letters, outbox


# A bucket's `le` label, as the histogram writes it, to its key in a rollup.
BUCKET_KEYS = {str(bound): f"b{i}" for i, bound in enumerate(BOUNDS)}


def read(service: str, source: Iterable[Collector] | None = None) -> Reading:
    """The service's own samples, from the metrics the rollups read (not the whole registry:
    its process and GC collectors read /proc and the heap each time, for nothing here): the
    latency of the whole service (`SERVICE_LATENCY`, one label set), not by route and status
    (hundreds of label sets in a busy process, milliseconds to read each minute)."""
    reading = Reading()
    counts, gauges = reading.counts, reading.gauges
    collectors = source if source is not None else READ
    for metric in (m for c in collectors for m in c.collect()):
        for s in metric.samples:
            name, labels = s.name, s.labels
            if name.endswith("_created") or labels.get("service", service) != service:
                continue
            if name == "aviary_http_service_request_seconds_bucket":
                key = BUCKET_KEYS.get(labels["le"])  # None: the +Inf bucket, the count
                if key is not None:
                    counts[key] = counts.get(key, 0.0) + s.value
            elif name == "aviary_http_service_request_seconds_count":
                counts["requests"] = counts.get("requests", 0.0) + s.value
            elif name == "aviary_events_consumed_total":
                key = "events" if labels.get("outcome") == "ok" else "failed"
                counts[key] = counts.get(key, 0.0) + s.value
            elif name == "aviary_events_published_total" and labels["type"] in STAGES:
                key = f"stage_{STAGES[labels['type']]}"
                counts[key] = counts.get(key, 0.0) + s.value
            elif name == "aviary_queue_messages":
                gauges["queue" if labels.get("queue") == "main" else "dead_letters"] = s.value
            elif name == "aviary_outbox_backlog":
                gauges["outbox"] = s.value
    return reading


def minute_of(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


class Rollups:
    """One process's rollups: it adds its readings; anyone reads the service's minutes."""

    def __init__(self, db: ServiceDatabase, service: str) -> None:
        self.collection = db[COLLECTION]
        self.quarters = db[QUARTERS]
        self.service = service
        # A process's counters start at zero: what it counted before its first reading is
        # its first minute's (a restarted process starts again from zero, counting nothing twice).
        self._last = Reading()

    async def tick(self) -> None:
        """Add what changed since the last reading to this minute's document."""
        now = read(self.service)
        oldest = take_oldest_event_age(self.service)
        if oldest is not None:
            now.gauges["oldest_event_s"] = round(oldest, 3)
        last, self._last = self._last, now
        grown = {k: v - last.counts.get(k, 0.0) for k, v in now.counts.items()}
        changes: Doc = {}
        if changed := {k: v for k, v in grown.items() if v > 0}:
            changes["$inc"] = changed
        if now.gauges:
            changes["$max"] = now.gauges
        minute = minute_of(utcnow())
        for collection, start in (
            (self.collection, minute),
            (self.quarters, span(minute, QUARTER)),
        ):
            update = {"$setOnInsert": {"minute": start, "process": PROCESS}, **changes}
            await collection.update_one(
                {"_id": f"{start.isoformat()}|{PROCESS}"}, update, upsert=True
            )

    async def minutes(self, since: datetime, until: datetime, step: int = 1) -> list[Doc]:
        """Each minute (each `step` minutes) with figures in [since, until), its processes'
        documents summed."""
        source = self.quarters if step % QUARTER == 0 else self.collection
        start = span(since, QUARTER) if source is self.quarters else since
        query = {"minute": {"$gte": start, "$lt": until}}
        docs = await source.find(query, {"_id": 0, "process": 0}).to_list(None)
        return summed(docs, step)


def span(minute: datetime, step: int) -> datetime:
    """The start of the `step`-minute span a minute falls in (spans from the hour)."""
    start = minute_of(minute)
    return start - timedelta(minutes=(start.hour * 60 + start.minute) % step)


def summed(docs: Iterable[Doc], step: int = 1) -> list[Doc]:
    """Documents of one minute (several processes), or of `step` minutes, as one: counts
    added, gauges at their highest, latency quantiles from the summed buckets (ms)."""
    by_minute: dict[datetime, dict[str, float]] = {}
    for doc in docs:
        total = by_minute.setdefault(span(doc["minute"], step), {})
        for key, value in doc.items():
            if key in GAUGES:
                total[key] = max(total.get(key, 0.0), float(value))
            elif isinstance(value, int | float) and not isinstance(value, bool):
                total[key] = total.get(key, 0.0) + float(value)
    out = []
    for minute, total in sorted(by_minute.items()):
        buckets = [total.get(f"b{i}", 0.0) for i in range(len(BOUNDS))]
        requests = total.get("requests", 0.0)
        out.append(
            {
                "minute": minute,
                "events": int(total.get("events", 0)),
                "failed": int(total.get("failed", 0)),
                "requests": int(requests),
                "p50_ms": _ms(quantile(buckets, requests, 0.5)),
                "p99_ms": _ms(quantile(buckets, requests, 0.99)),
                **{g: int(total[g]) if g in total else None for g in GAUGES[:3]},
                "oldest_event_s": total.get("oldest_event_s"),
                "stages": {s: int(total.get(f"stage_{s}", 0)) for s in STAGES.values()},
            }
        )
    return out


def quantile(buckets: Sequence[float], count: float, q: float) -> float | None:
    """The `q` quantile of a histogram (`buckets`: cumulative counts by BOUNDS, `count` all
    observations), interpolating within the bucket it falls in, as Prometheus does; past the
    last bound, that bound."""
    if count <= 0:
        return None
    rank = q * count
    lower, below = 0.0, 0.0
    for bound, cumulative in zip(BOUNDS, buckets, strict=True):
        if cumulative >= rank:
            inside = cumulative - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = bound, cumulative
    return BOUNDS[-1]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def window(
    since: datetime | None, until: datetime | None, default: timedelta
) -> tuple[datetime, datetime]:
    """The range asked for (a time without a zone is UTC), the last `default` of it when not
    given."""
    end = _utc(until) if until else utcnow()
    return (_utc(since) if since else end - default), end


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
