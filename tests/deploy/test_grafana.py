"""Offline checks of deploy/grafana/aviary-dashboard.json against the metrics the code exports.

Metric and label names are read from the source text of shared/observability.py, so renaming a
metric there without updating the dashboard fails here.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "aviary-dashboard.json"
OBSERVABILITY = ROOT / "shared" / "observability.py"
# Histogram("name", "help", ["label", ...]) and the like, over one or more lines.
DEFINITION = re.compile(
    r"\b(?P<kind>Counter|Gauge|Histogram|Summary)\(\s*\"(?P<name>\w+)\",\s*\"[^\"]*\",\s*"
    r"\[(?P<labels>[^\]]*)\]"
)
SERIES = re.compile(r"\b(?P<metric>(?:aviary|rabbitmq)_\w+)\s*(?:\{(?P<selector>[^}]*)\})?")
MATCHER = re.compile(r"(?P<label>\w+)\s*(?:=~|!~|!=|=)\s*\"")
GROUPING = re.compile(r"\b(?:by|without)\s*\((?P<labels>[^)]*)\)")
HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")
# The RabbitMQ Prometheus plugin's per-queue series (not Aviary's code): labels it carries.
RABBITMQ_LABELS = frozenset({"queue", "vhost"})
OUTCOMES = frozenset({"ok", "retried", "dead_lettered"})
# What the dashboard must chart at least (more metrics may be added to the code first).
CHARTED = frozenset(
    {
        "aviary_http_request_seconds",
        "aviary_events_consumed_total",
        "aviary_events_published_total",
        "aviary_outbox_backlog",
    }
)

Obj = dict[str, Any]


@functools.cache
def dashboard() -> Obj:
    data = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@functools.cache
def definitions() -> dict[str, tuple[str, frozenset[str]]]:
    """Metric name -> (Counter/Gauge/Histogram/Summary, label names), from the source text."""
    source = OBSERVABILITY.read_text(encoding="utf-8")
    found = {
        m["name"]: (m["kind"], frozenset(re.findall(r"\"(\w+)\"", m["labels"])))
        for m in DEFINITION.finditer(source)
    }
    assert found, "no metric definitions found in shared/observability.py"
    return found


def exported_metrics() -> dict[str, frozenset[str]]:
    return {name: labels for name, (_, labels) in definitions().items()}


def panels(items: list[Obj]) -> Iterator[Obj]:
    for panel in items:
        yield panel
        yield from panels(panel.get("panels", []))


def graph_panels() -> list[Obj]:
    return [p for p in panels(dashboard()["panels"]) if p["type"] != "row"]


def expressions() -> list[str]:
    return [t["expr"] for p in graph_panels() for t in p["targets"]]


def metric_name(series: str) -> str:
    """The declared name of a series: a histogram's _bucket/_count/_sum drop their suffix."""
    for suffix in HISTOGRAM_SUFFIXES:
        if series.endswith(suffix) and series.removesuffix(suffix) in exported_metrics():
            return series.removesuffix(suffix)
    return series


def test_the_dashboard_parses_and_has_a_prometheus_datasource_variable() -> None:
    data = dashboard()
    assert data["uid"] and data["title"]
    assert 36 <= data["schemaVersion"] <= 41
    variables = {v["name"]: v for v in data["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"


def test_every_panel_has_a_promql_target_on_the_datasource_variable() -> None:
    found = graph_panels()
    assert len(found) >= 8
    ids = [p["id"] for p in panels(dashboard()["panels"])]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    for panel in found:
        title = panel["title"]
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"]), title
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, title
        assert panel["targets"], title
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), title
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"], title
            expr = target["expr"]
            assert isinstance(expr, str) and SERIES.search(expr), title
            assert expr.count("(") == expr.count(")"), title
            assert expr.count("{") == expr.count("}"), title


def test_every_aviary_metric_queried_is_exported_with_those_labels() -> None:
    exported = exported_metrics()
    queried: set[str] = set()
    for expr in expressions():
        labels_in_expr = {"le"}
        for match in SERIES.finditer(expr):
            series, selector = match["metric"], match["selector"] or ""
            if series.startswith("rabbitmq_"):
                known = RABBITMQ_LABELS
            else:
                name = metric_name(series)
                assert name in exported, f"{series} is not defined in shared/observability.py"
                if series != name:
                    assert definitions()[name][0] in ("Histogram", "Summary"), series
                queried.add(name)
                known = exported[name]
            used = set(MATCHER.findall(selector))
            assert used <= known, f"{series}: unknown labels {used - known}"
            labels_in_expr |= known
        for group in GROUPING.finditer(expr):
            grouped = {label.strip() for label in group["labels"].split(",") if label.strip()}
            assert grouped <= labels_in_expr, f"{expr}: grouped by {grouped - labels_in_expr}"
    assert queried >= CHARTED, f"not charted: {sorted(CHARTED - queried)}"


def test_latency_panels_use_histogram_quantile_and_outcomes_are_real() -> None:
    exprs = expressions()
    for quantile in ("0.5", "0.99"):
        assert any(
            e.startswith(f"histogram_quantile({quantile},")
            and "aviary_http_request_seconds_bucket" in e
            and re.search(r"by \(le, service, route\)", e)
            for e in exprs
        ), quantile
    for expr in exprs:
        for outcome in re.findall(r"outcome\s*=\s*\"(\w+)\"", expr):
            assert outcome in OUTCOMES, outcome
    consumer = (ROOT / "shared" / "messaging" / "consumer.py").read_text(encoding="utf-8")
    assert '"dead_lettered"' in consumer
    assert any("rabbitmq_queue_messages_ready" in e and "queue" in e for e in exprs)
