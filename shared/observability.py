"""JSON logs carrying a correlation id, and the Prometheus metrics every service exposes."""

from __future__ import annotations

import json
import logging
import sys
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)
service_name: ContextVar[str] = ContextVar("service_name", default="aviary")

# Seconds; the per-minute rollups (shared/rollups.py) keep a count for each.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
HTTP_LATENCY = Histogram(
    "aviary_http_request_seconds",
    "HTTP request latency by route",
    ["service", "method", "route", "status"],
    buckets=LATENCY_BUCKETS,
)
# The same, by service alone: what the per-minute rollups read (one label set, not one per
# route and status, which made each reading cost milliseconds in a busy process).
SERVICE_LATENCY = Histogram(
    "aviary_http_service_request_seconds",
    "HTTP request latency of the whole service",
    ["service"],
    buckets=LATENCY_BUCKETS,
)
# The oldest event each service handled since the rollups last read it (seconds from when it
# happened): how far behind a consumer runs, minute by minute (shared/rollups.py).
_oldest_handled: dict[str, float] = {}


def note_event_age(service: str, seconds: float) -> None:
    _oldest_handled[service] = max(seconds, _oldest_handled.get(service, 0.0))


def take_oldest_event_age(service: str) -> float | None:
    """The oldest age noted since the last call (None: no event handled since)."""
    return _oldest_handled.pop(service, None)


EVENTS_CONSUMED = Counter(
    "aviary_events_consumed_total", "Events handled, by outcome", ["service", "type", "outcome"]
)
EVENTS_PUBLISHED = Counter("aviary_events_published_total", "Events published", ["service", "type"])
OUTBOX_BACKLOG = Gauge("aviary_outbox_backlog", "Outbox entries not yet relayed", ["service"])
QUEUE_DEPTH = Gauge(
    "aviary_queue_messages",
    "Messages waiting in a consuming service's queues (consumer lag) and dead-letter queue",
    ["service", "queue"],
)
TASKS_BY_STATE = Gauge("aviary_tasks", "Dispatch tasks by state", ["state"])
ANNOTATORS_ACTIVE = Gauge("aviary_annotators_active", "Annotators holding a task lease now")
BATCHES_EXPIRED = Counter(
    "aviary_batches_expired_total", "Batches deleted at the end of their project's retention"
)
IMAGES_REDACTED = Counter(
    "aviary_images_redacted_total", "Pictures whose faces and plates were blurred at ingest"
)
LEASES_EXPIRED = Counter("aviary_leases_expired_total", "Task leases that expired unsubmitted")
TRANSACTION_RETRIES = Counter(
    "aviary_transaction_retries_total", "Transactions retried after a write conflict", ["what"]
)


def new_correlation_id() -> str:
    return uuid.uuid4().hex


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, service, logger, event, correlation id, extras."""

    _reserved = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "service": service_name.get(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        cid = correlation_id.get()
        if cid:
            entry["correlation_id"] = cid
        for key, value in vars(record).items():
            if key not in self._reserved and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(service: str, level: str = "INFO", as_json: bool = True) -> None:
    """Route all logging to stderr, as JSON lines unless told otherwise."""
    service_name.set(service)
    handler = logging.StreamHandler(sys.stderr)
    if as_json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Driver chatter drowns the events that matter.
    for noisy in ("aio_pika", "aiormq", "pymongo", "urllib3", "httpx", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
