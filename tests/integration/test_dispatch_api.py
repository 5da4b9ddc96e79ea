"""Dispatch against running services: routing by share, backlog takeover, skips, releases,
work limits, rework routing and the handling-time estimate."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support import Api, jpeg, workspace

BOX = {"class_id": 1, "bbox": [10, 10, 50, 40]}


def lease(api: Api, token: str, wait_s: float = 5) -> dict[str, Any]:
    response = api.next_task(token, wait_s=wait_s)
    assert response.status_code == 200, response.text
    return dict(response.json())


def task_stats(api: Api, token: str, project_id: str) -> dict[str, dict[str, int]]:
    path = f"/v1/projects/{project_id}/task-stats"
    return dict(api.ok("GET", "dispatch", path, token)["by_vendor"])


def wait_for_tasks(api: Api, token: str, project_id: str, n: int) -> dict[str, dict[str, int]]:
    def enough() -> dict[str, dict[str, int]] | None:
        path = f"/v1/projects/{project_id}/task-stats"
        response = api.call("GET", "dispatch", path, token)
        if response.status_code == 404:  # dispatch has not heard of the project yet
            return None
        assert response.status_code == 200, response.text
        stats = dict(response.json()["by_vendor"])
        return stats if sum(sum(s.values()) for s in stats.values()) >= n else None

    return dict(api.wait_for(enough, timeout=60))


def give_back(api: Api, token: str, task: dict[str, Any], action: str, **body: Any) -> int:
    path = f"/v1/tasks/{task['id']}/{action}"
    payload = {"lease_id": task["lease_id"], **body}
    return api.call("POST", "dispatch", path, token, json=payload).status_code


def test_work_is_split_between_vendors_by_share(api: Api) -> None:
    client = api.client()
    big, small = api.org("vendor", "big"), api.org("vendor", "small")
    vendors = [{"vendor_id": big, "share": 0.75}, {"vendor_id": small, "share": 0.25}]
    project = api.project(client, big, vendors=vendors)
    batch = api.batch(client, project["id"])
    for i in range(48):
        assert api.upload(client, batch, jpeg(2000 + i)).status_code == 201
    stats = wait_for_tasks(api, client.token, project["id"], 48)
    counts = {v: sum(s.values()) for v, s in stats.items()}
    # Binomial(48, 0.75): mean 36, standard deviation 3; a 3.3-sigma band.
    assert 26 <= counts.get(big, 0) <= 46, counts
    assert counts.get(big, 0) + counts.get(small, 0) == 48
    # A vendor admin sees its own vendor's row only.
    admin = api.token(small, "vendor_admin", "boss")
    assert set(task_stats(api, admin, project["id"])) == {small}
    outsider = api.token(api.org("vendor"), "vendor_admin", "boss")
    path = f"/v1/projects/{project['id']}/task-stats"
    assert api.call("GET", "dispatch", path, outsider).status_code == 404
    assert api.call("GET", "dispatch", path, api.client().token).status_code == 404


def test_an_idle_vendor_takes_over_backlog_the_project_allows_it(api: Api) -> None:
    client = api.client()
    busy, idle = api.org("vendor", "busy"), api.org("vendor", "idle")
    vendors = [{"vendor_id": busy, "share": 0.9999}, {"vendor_id": idle, "share": 0.0001}]
    project = api.project(client, busy, vendors=vendors)
    batch = api.batch(client, project["id"])
    assert api.upload(client, batch, jpeg(3000)).status_code == 201
    stats = wait_for_tasks(api, client.token, project["id"], 1)
    assert set(stats) == {busy}  # routed by share
    idle_annotator = api.token(idle, "annotator", "idle-1")
    started = time.monotonic()
    task = lease(api, idle_annotator, wait_s=10)  # waits until the task is old enough
    takeover_s = api.services.settings.backlog_takeover_s
    assert time.monotonic() - started >= takeover_s * 0.5
    assert task_stats(api, client.token, project["id"]) == {idle: {"leased": 1}}
    assert api.submit(idle_annotator, task, [BOX]).status_code == 200
    # The busy vendor no longer sees it: tasks belong to the vendor doing them.
    busy_annotator = api.token(busy, "annotator", "busy-1")
    assert api.submit(busy_annotator, task, [BOX]).status_code == 404


def test_backlog_is_not_taken_by_a_vendor_the_project_does_not_list(api: Api) -> None:
    ws = workspace(api)
    outsider = api.token(api.org("vendor"), "annotator", "outsider")
    assert (
        api.next_task(outsider, wait_s=api.services.settings.backlog_takeover_s + 1.5).status_code
        == 204
    )
    assert lease(api, ws.annotators[0])["project_id"] == ws.project["id"]


def test_a_skipped_task_goes_to_someone_else_and_is_flagged_after_too_many_skips(
    api: Api,
) -> None:
    ws = workspace(api)
    a, b = ws.annotators
    bad = api.call("POST", "dispatch", "/v1/tasks/next", a, params={"wait_s": 5}).json()
    assert give_back(api, a, bad, "skip", reason="boring") == 422
    assert give_back(api, a, bad, "skip", reason="unreadable_image", comment="all black") == 204
    assert give_back(api, a, bad, "skip", reason="unreadable_image") == 409  # not held now
    assert api.next_task(a, wait_s=0.5).status_code == 204  # never offered back to a skipper
    again = lease(api, b)
    assert again["id"] == bad["id"]
    assert give_back(api, b, again, "skip", reason="unreadable_image") == 204
    # Skipped by max_skips annotators: out of the pool, counted for an operator to look at.
    assert api.services.settings.max_skips == 2
    assert task_stats(api, ws.client.token, ws.project["id"]) == {ws.vendor_id: {"flagged": 1}}
    assert api.next_task(b, wait_s=0.5).status_code == 204


def test_a_released_task_returns_at_once_and_the_time_held_counts(api: Api) -> None:
    ws = workspace(api)
    a, b = ws.annotators
    task = lease(api, a)
    time.sleep(0.5)
    assert give_back(api, a, task, "release") == 204
    assert lease(api, b, wait_s=1)["id"] == task["id"]
    work = api.ok("GET", "dispatch", "/v1/me/work", a)
    assert work["worked_s"] >= 0.5
    assert work["limit_s"] == 8 * 3600  # the platform default
    assert work["remaining_s"] == pytest.approx(work["limit_s"] - work["worked_s"], abs=0.2)


def test_daily_work_limit_refuses_next_once_reached(api: Api) -> None:
    started_on = datetime.now(UTC).date().isoformat()  # the run may cross midnight
    ws = workspace(api, images=2)
    a = ws.annotators[0]
    admin = api.token(ws.vendor_id, "vendor_admin", "boss")
    limit_path = f"/v1/vendors/{ws.vendor_id}/work-limits/annotators/ann-0"
    one_second = {"daily_hours": 1 / 3600}
    # Only the vendor's own admin (or the operator) sets limits.
    assert api.call("PUT", "dispatch", limit_path, a, json=one_second).status_code == 403
    other_admin = api.token(api.org("vendor"), "vendor_admin", "boss")
    assert api.call("PUT", "dispatch", limit_path, other_admin, json=one_second).status_code == 404
    bad = api.call("PUT", "dispatch", limit_path, admin, json={"daily_hours": 30})
    assert bad.status_code == 422
    view = api.ok("PUT", "dispatch", limit_path, admin, json=one_second)
    assert view["annotators"] == {"ann-0": 1 / 3600}

    task = lease(api, a)
    time.sleep(1.2)
    assert api.submit(a, task, [BOX]).status_code == 200
    refused = api.next_task(a, wait_s=0)
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "daily_limit_reached"
    assert error["details"]["worked_s"] >= 1.0
    assert 0 < int(refused.headers["Retry-After"]) <= 86_400
    # The annotator and the admin see the same figures.
    mine = api.ok("GET", "dispatch", "/v1/me/work", a)
    theirs = api.ok("GET", "dispatch", f"/v1/vendors/{ws.vendor_id}/annotators/ann-0/work", admin)
    assert mine["remaining_s"] == theirs["remaining_s"] == 0
    assert mine["worked_s"] == pytest.approx(theirs["worked_s"], abs=0.2)
    # Someone else of the same vendor still works.
    assert lease(api, ws.annotators[1])["project_id"] == ws.project["id"]
    # Day by day, for the fair-work card: today's time against the limit, the admin's only.
    days_path = f"/v1/vendors/{ws.vendor_id}/work-days"

    def worked_day() -> dict[str, Any] | None:
        days = api.ok("GET", "dispatch", days_path, admin, params={"days": 7})["days"]
        worked = [d for d in days if d["people"]]
        return worked[-1] if worked else None

    day = api.wait_for(worked_day)
    assert day["day"] in {started_on, datetime.now(UTC).date().isoformat()}
    [person] = [p for p in day["people"] if p["annotator_id"] == "ann-0"]
    assert person["worked_s"] >= 1.0 and person["limit_s"] == 1.0
    assert person["breaks"] == 0  # one task, then the limit: no pause between two
    assert api.call("GET", "dispatch", days_path, other_admin).status_code == 404


def test_group_limits_apply_to_members_without_their_own(api: Api) -> None:
    ws = workspace(api)
    admin = api.token(ws.vendor_id, "vendor_admin", "boss")
    base = f"/v1/vendors/{ws.vendor_id}/work-limits"
    api.ok("PUT", "dispatch", f"{base}/groups/intern", admin, json={"daily_hours": 3})
    view = api.ok("PUT", "dispatch", f"{base}/annotators/ann-1", admin, json={"group": "intern"})
    assert view["groups"] == {"intern": 3} and view["members"] == {"ann-1": "intern"}
    work = api.ok("GET", "dispatch", "/v1/me/work", ws.annotators[1])
    assert work["limit_s"] == 3 * 3600
    assert api.ok("GET", "dispatch", base, admin)["intern_daily_hours"] == 4


def test_rework_waits_for_its_annotator_then_goes_to_anyone(api: Api) -> None:
    ws = workspace(api)
    a, b = ws.annotators
    task = lease(api, a)
    assert api.submit(a, task, [BOX]).status_code == 200

    def review() -> dict[str, Any] | None:
        response = api.call("POST", "review", "/v1/reviews/next", ws.reviewer)
        return dict(response.json()) if response.status_code == 200 else None

    decision = api.wait_for(review)
    body = {"reason": "loose box", "comment": "Tighter, please."}
    path = f"/v1/reviews/{decision['id']}/reject"
    assert api.call("POST", "review", path, ws.reviewer, json=body).status_code == 200
    started = time.monotonic()
    rework = lease(api, b, wait_s=10)  # a never comes back: after the wait it is b's
    assert rework["id"] == task["id"] and rework["rework"] == 1
    assert time.monotonic() - started >= api.services.settings.rework_exclusive_s * 0.5
    assert rework["comments"][0]["comment"] == "Tighter, please."


def test_the_task_shows_the_projects_median_handling_time(api: Api) -> None:
    ws = workspace(api, images=3)
    a = ws.annotators[0]
    first = lease(api, a)
    assert first["estimated_seconds"] is None  # nothing submitted yet
    time.sleep(0.4)
    assert api.submit(a, first, [BOX]).status_code == 200
    second = lease(api, a)
    assert second["estimated_seconds"] >= 0.4
    assert api.submit(a, second, [BOX]).status_code == 200


def test_higher_priority_projects_are_served_first(api: Api) -> None:
    client = api.client()
    vendor = api.org("vendor")
    annotator = api.token(vendor, "annotator", "a")
    low = api.project(client, vendor, priority=0)
    high = api.project(client, vendor, priority=5)
    for project, seed in ((low, 4000), (high, 4001)):
        batch = api.batch(client, project["id"])
        assert api.upload(client, batch, jpeg(seed)).status_code == 201
    for project in (low, high):
        wait_for_tasks(api, client.token, project["id"], 1)
    time.sleep(api.services.settings.pool_sync_s + 0.5)
    assert lease(api, annotator)["project_id"] == high["id"]
    assert lease(api, annotator)["project_id"] == low["id"]


def test_a_heartbeat_after_expiry_takes_the_task_again_unless_someone_else_did(api: Api) -> None:
    ttl = api.services.settings.lease_ttl_s

    def heartbeat(token: str, task: dict[str, Any]) -> Any:
        path = f"/v1/tasks/{task['id']}/heartbeat"
        return api.call("POST", "dispatch", path, token, json={"lease_id": task["lease_id"]})

    ws = workspace(api)
    a, b = ws.annotators
    task = lease(api, a)
    time.sleep(ttl + 1.5)  # expired, and the sweeper put it back in the pool
    beat = heartbeat(a, task)
    assert beat.status_code == 200, beat.text
    assert beat.json()["lease_id"] != task["lease_id"]  # the same lease, in a new slot
    assert api.next_task(b, wait_s=0.5).status_code == 204  # a holds it again
    assert api.submit(a, task, [BOX]).status_code == 200  # and the old lease id still works

    ws = workspace(api)
    a, b = ws.annotators
    task = lease(api, a)
    assert lease(api, b, wait_s=ttl + 3)["id"] == task["id"]  # expired and taken by b
    refused = heartbeat(a, task)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "lease_lost"


def expires_s(url: str) -> int:
    return int(parse_qs(urlsplit(url).query)["X-Amz-Expires"][0])


def test_media_urls_live_as_long_as_the_lease_and_heartbeats_renew_them(api: Api) -> None:
    ws = workspace(api)
    a = ws.annotators[0]
    task = lease(api, a)
    # The lease lives 3 s in tests: a URL lives the shortest time a page needs, not an hour.
    assert api.services.settings.lease_ttl_s == 3
    assert expires_s(task["image"]["url"]) == 30
    assert api.http.get(task["image"]["url"]).status_code == 200
    path = f"/v1/tasks/{task['id']}/heartbeat"
    renewed = api.ok("POST", "dispatch", path, a, json={"lease_id": task["lease_id"]})
    assert expires_s(renewed["image_url"]) == 30
    assert renewed["audio_url"] is None  # an image task
    assert api.http.get(renewed["image_url"]).status_code == 200
