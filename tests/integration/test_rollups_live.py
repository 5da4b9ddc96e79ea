"""Per-minute rollups, live: the services add their readings as they work, and the operator
reads each service's minutes (GET /v1/rollups); nobody else does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support import Api, workspace

BOX = {"class_id": 1, "bbox": [1, 1, 9, 9]}


def test_each_service_rolls_up_its_work_minute_by_minute(api: Api) -> None:
    ws = workspace(api, images=2, review={"mode": "auto"})
    for annotator in ws.annotators:
        assert api.submit(annotator, api.next_task(annotator).json(), [BOX]).status_code == 200
    since = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()

    def minutes(service: str) -> list[dict[str, Any]]:
        answer = api.ok("GET", service, "/v1/rollups", api.operator, params={"since": since})
        assert answer["service"] == service
        return list(answer["minutes"])

    def worked(service: str, field: str) -> list[dict[str, Any]] | None:
        found = minutes(service)
        return found if sum(m[field] or 0 for m in found) > 0 else None

    # Review handled the submissions; ingest counted them (events), dispatch served them.
    review = api.wait_for(lambda: worked("review", "events"))
    assert any(m["oldest_event_s"] is not None and m["oldest_event_s"] >= 0 for m in review)
    assert all(m["minute"].endswith(("+00:00", "Z")) for m in review)
    assert api.wait_for(lambda: worked("ingest", "events"))
    served = api.wait_for(lambda: worked("dispatch", "requests"))
    # The stages, where they publish: dispatch labels, review accepts.
    # (at least: the services are shared with the other tests of the module)
    assert api.wait_for(lambda: sum(m["stages"]["labeled"] for m in minutes("dispatch")) >= 2)
    assert api.wait_for(lambda: sum(m["stages"]["accepted"] for m in minutes("review")) >= 2)
    busiest = max(served, key=lambda m: m["requests"])
    assert busiest["p50_ms"] is not None and 0 < busiest["p50_ms"] <= busiest["p99_ms"]
    assert [m["minute"] for m in served] == sorted(m["minute"] for m in served)

    # By quarter hour: the same counts, on the quarters.
    quarters = api.ok(
        "GET", "review", "/v1/rollups", api.operator, params={"since": since, "step": 15}
    )["minutes"]
    assert quarters and all(int(q["minute"][14:16]) % 15 == 0 for q in quarters)
    assert sum(q["events"] for q in quarters) >= sum(m["events"] for m in review)

    # Only the operator; a window the store does not keep is refused.
    assert api.call("GET", "review", "/v1/rollups", ws.client.token).status_code == 403
    far = {"since": "2026-01-01T00:00:00Z", "until": "2026-02-01T00:00:00Z"}
    refused = api.call("GET", "review", "/v1/rollups", api.operator, params=far)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid_window"
