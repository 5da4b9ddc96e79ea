"""Per-minute rollups: a process's readings, their sum over processes, latency quantiles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from shared.observability import LATENCY_BUCKETS, note_event_age, take_oldest_event_age
from shared.rollups import BOUNDS, quantile, read, summed, window

MINUTE = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


def test_a_reading_takes_the_services_own_samples() -> None:
    registry = CollectorRegistry()
    events = Counter(
        "aviary_events_consumed", "", ["service", "type", "outcome"], registry=registry
    )
    latency = Histogram(
        "aviary_http_service_request_seconds", "", ["service"], buckets=LATENCY_BUCKETS,
        registry=registry,
    )  # fmt: skip
    queue = Gauge("aviary_queue_messages", "", ["service", "queue"], registry=registry)
    published = Counter("aviary_events_published", "", ["service", "type"], registry=registry)
    published.labels("review", "item.accepted").inc(4)
    published.labels("review", "gold.updated").inc(9)  # not a stage of the pipeline
    events.labels("review", "task.submitted", "ok").inc(5)
    events.labels("review", "task.submitted", "retried").inc(2)
    events.labels("ingest", "item.accepted", "ok").inc(100)  # another service's
    latency.labels("review").observe(0.02)
    latency.labels("review").observe(0.3)
    queue.labels("review", "main").set(7)
    queue.labels("review", "dead_letter").set(1)
    reading = read("review", [registry])
    assert reading.counts["events"] == 5 and reading.counts["failed"] == 2
    assert reading.counts["requests"] == 2
    assert reading.counts[f"b{BOUNDS.index(0.025)}"] == 1  # 0.02 s is under 25 ms
    assert reading.counts[f"b{BOUNDS.index(0.5)}"] == 2
    assert reading.gauges == {"queue": 7, "dead_letters": 1}
    assert reading.counts["stage_accepted"] == 4 and "stage_gold" not in str(reading.counts)


def test_quantiles_interpolate_within_their_bucket() -> None:
    # 100 requests: 50 under 10 ms, 99 under 50 ms, all under 100 ms.
    cumulative = [0, 50, 80, 99, 100, 100, 100, 100, 100, 100, 100]
    assert quantile(cumulative, 100, 0.5) == pytest.approx(0.01)
    assert quantile(cumulative, 100, 0.99) == pytest.approx(0.05)
    assert quantile(cumulative, 100, 0.995) == pytest.approx(0.075)
    assert quantile([0] * len(BOUNDS), 0, 0.5) is None
    assert quantile([0] * len(BOUNDS), 3, 0.5) == BOUNDS[-1]  # past the last bound


def test_a_minutes_processes_are_summed_gauges_at_their_highest() -> None:
    one = {"_id": "a", "minute": MINUTE, "process": "h:1", "events": 10, "requests": 4,
           "b0": 4, "b1": 4, "b2": 4, "b3": 4, "b4": 4, "queue": 3,
           "oldest_event_s": 2.5}  # fmt: skip
    two = {"_id": "b", "minute": MINUTE, "process": "h:2", "events": 5, "failed": 1, "queue": 9,
           "stage_labeled": 3, "oldest_event_s": 0.7}  # fmt: skip
    later = {"_id": "c", "minute": MINUTE + timedelta(minutes=1), "process": "h:1", "outbox": 2}
    first, second = summed([later, one, two])
    assert (first["minute"], first["events"], first["failed"], first["requests"]) == (
        MINUTE, 15, 1, 4,
    )  # fmt: skip
    assert first["queue"] == 9 and first["dead_letters"] is None
    assert first["oldest_event_s"] == 2.5 and second["oldest_event_s"] is None
    assert first["p50_ms"] == pytest.approx(2.5)  # all four under 5 ms
    assert second["outbox"] == 2 and second["p99_ms"] is None
    assert first["stages"] == {"ingested": 0, "labeled": 3, "rejected": 0, "accepted": 0,
                               "delivered": 0}  # fmt: skip


def test_the_window_defaults_to_the_last_hour_and_reads_a_bare_time_as_utc() -> None:
    start, end = window(None, None, timedelta(hours=1))
    assert end - start == timedelta(hours=1) and end.tzinfo is not None
    bare = datetime(2026, 12, 6, 10, 0)
    assert window(bare, None, timedelta(hours=1))[0] == MINUTE


def test_the_oldest_event_handled_is_taken_once() -> None:
    note_event_age("export", 0.4)
    note_event_age("export", 3.0)
    note_event_age("export", 1.0)
    assert take_oldest_event_age("export") == 3.0
    assert take_oldest_event_age("export") is None  # nothing handled since
