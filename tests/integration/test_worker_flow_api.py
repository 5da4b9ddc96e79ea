"""Dispatch, review and export APIs against running services: leases, validation, isolation."""

from __future__ import annotations

import time
from typing import Any

from tests.support import Api, review_next, workspace

BOX = {"class_id": 1, "bbox": [10, 10, 50, 40]}


def lease(api: Api, token: str, wait_s: float = 5) -> dict[str, Any]:
    response = api.next_task(token, wait_s=wait_s)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_task_payload_has_what_the_labeling_ui_needs(api: Api) -> None:
    ws = workspace(api, instructions="Box every car.", piece_rate=0.07)
    task = lease(api, ws.annotators[0])
    assert task["instructions"] == "Box every car."
    assert task["piece_rate"] == 0.07
    assert [c["name"] for c in task["classes"]] == ["car", "person"]
    assert (task["image"]["width"], task["image"]["height"]) == (640, 480)
    image = api.http.get(task["image"]["url"])  # presigned: straight from storage
    assert image.status_code == 200 and image.content[:3] == b"\xff\xd8\xff"


def test_invalid_shapes_are_refused_naming_each_shape(api: Api) -> None:
    ws = workspace(api)
    task = lease(api, ws.annotators[0])
    shapes = [
        BOX,
        {"class_id": 9, "bbox": [1, 1, 5, 5]},
        {"class_id": 1, "bbox": [600, 400, 100, 100]},
        {"class_id": 2, "bbox": [5, 5, 0, 10]},
    ]
    response = api.submit(ws.annotators[0], task, shapes)
    assert response.status_code == 422
    details = response.json()["error"]["details"]
    assert [(d["shape"], d["code"]) for d in details] == [
        (1, "unknown_class"),
        (2, "outside_image"),
        (3, "empty_box"),
    ]
    assert api.submit(ws.annotators[0], task, [BOX]).status_code == 200


def test_another_vendor_cannot_see_or_submit_the_task(api: Api) -> None:
    ws = workspace(api)
    task = lease(api, ws.annotators[0])
    stranger = api.token(api.org("vendor"), "annotator", "stranger")
    assert api.next_task(stranger, wait_s=0).status_code == 204
    assert api.submit(stranger, task, [BOX]).status_code == 404
    path = f"/v1/tasks/{task['id']}/heartbeat"
    body = {"lease_id": task["lease_id"]}
    assert api.call("POST", "dispatch", path, stranger, json=body).status_code == 404


def test_overlap_gives_each_copy_to_a_different_annotator(api: Api) -> None:
    ws = workspace(api, overlap=2)
    first = lease(api, ws.annotators[0])
    assert api.next_task(ws.annotators[0], wait_s=0).status_code == 204
    second = lease(api, ws.annotators[1])
    assert first["item_id"] == second["item_id"]
    assert first["id"] != second["id"]


def test_expired_lease_returns_to_the_pool_and_a_late_submit_gets_409(api: Api) -> None:
    ttl = api.services.settings.lease_ttl_s
    ws = workspace(api)
    a, b = ws.annotators
    task = lease(api, a)
    started = time.monotonic()
    # Long-polls until the lease expires and the sweeper frees it, as long as the bound below
    # allows (a 5 s poll left the sweep 2 s: one slow second on a loaded machine failed it).
    retaken = lease(api, b, wait_s=ttl + 3)
    assert retaken["id"] == task["id"]
    assert time.monotonic() - started < ttl + 3
    late = api.submit(a, task, [BOX])
    assert late.status_code == 409
    assert late.json()["error"]["code"] == "lease_lost"
    assert api.submit(b, retaken, [BOX]).status_code == 200


def test_late_submit_is_accepted_when_nobody_else_took_the_task(api: Api) -> None:
    ws = workspace(api)
    task = lease(api, ws.annotators[0])
    time.sleep(api.services.settings.lease_ttl_s + 1.5)
    assert api.submit(ws.annotators[0], task, [BOX]).status_code == 200
    assert api.submit(ws.annotators[0], task, [BOX]).status_code == 409  # only once


def test_rejection_needs_a_listed_reason_and_a_comment_then_comes_back_as_rework(
    api: Api,
) -> None:
    ws = workspace(api)
    annotator = ws.annotators[0]
    task = lease(api, annotator)
    assert api.submit(annotator, task, [BOX]).status_code == 200
    review = review_next(api, ws.reviewer)
    path = f"/v1/reviews/{review['id']}/reject"
    bad_reason = api.call(
        "POST", "review", path, ws.reviewer, json={"reason": "ugly", "comment": "x"}
    )
    assert bad_reason.json()["error"]["code"] == "unknown_reason"
    blank = api.call(
        "POST", "review", path, ws.reviewer, json={"reason": "loose box", "comment": "  "}
    )
    assert blank.json()["error"]["code"] == "comment_required"
    stranger = api.token(api.org("vendor"), "reviewer", "stranger")
    assert (
        api.call("POST", "review", f"/v1/reviews/{review['id']}/accept", stranger).status_code
        == 404
    )
    body = {"reason": "loose box", "comment": "The car box is too wide."}
    assert api.call("POST", "review", path, ws.reviewer, json=body).status_code == 200
    rework = lease(api, annotator)  # the same annotator gets it back first
    assert rework["id"] == task["id"]
    assert rework["rework"] == 1
    assert rework["comments"][0]["comment"] == "The car box is too wide."
    assert rework["comments"][0]["reason"] == "loose box"


def test_delivery_is_visible_only_to_its_client(api: Api) -> None:
    ws = workspace(api, review={"mode": "auto"})
    api.ok("POST", "ingest", f"/v1/batches/{ws.batch_id}/seal", ws.client.token)
    task = lease(api, ws.annotators[0])
    assert api.submit(ws.annotators[0], task, [BOX]).status_code == 200

    def ready() -> list[dict[str, Any]]:
        listed = api.ok("GET", "export", "/v1/deliveries", ws.client.token)
        return [d for d in listed if d["status"] == "ready"]

    delivery = ready_list = api.wait_for(ready)
    delivery = ready_list[0]
    other = api.client()
    assert (
        api.call("GET", "export", f"/v1/deliveries/{delivery['id']}", other.token).status_code
        == 404
    )
    assert api.ok("GET", "export", "/v1/deliveries", other.token) == []
    path = f"/v1/batches/{ws.batch_id}/deliveries"
    assert api.call("POST", "export", path, other.token).status_code == 404
    mine = api.ok("GET", "export", f"/v1/deliveries/{delivery['id']}", ws.client.token)
    assert mine["images"] == 1 and mine["annotations"] == 1
    assert api.http.get(mine["download_url"]).status_code == 200
    batch = api.wait_for(
        lambda: (
            b
            if (b := api.ok("GET", "ingest", f"/v1/batches/{ws.batch_id}", ws.client.token))[
                "progress"
            ]["delivered"]
            else None
        )
    )
    assert batch["progress"]["accepted"] == 1


def test_metrics_show_queues_tasks_and_expired_leases(api: Api) -> None:
    ws = workspace(api, images=1)
    lease(api, ws.annotators[0])
    time.sleep(api.services.settings.lease_ttl_s + 1.5)  # let it expire

    def metrics_show() -> str | None:
        text = api.call("GET", "dispatch", "/metrics", api.operator).text
        ready = "aviary_leases_expired_total" in text and 'aviary_tasks{state="pending"}' in text
        return text if ready and 'aviary_queue_messages{queue="main"' in text else None

    text = api.wait_for(metrics_show, timeout=30)
    expired = [
        line for line in text.splitlines() if line.startswith("aviary_leases_expired_total ")
    ]
    assert float(expired[0].split()[1]) >= 1
    assert 'aviary_queue_messages{queue="dead_letter",service="dispatch"}' in text
    assert "aviary_outbox_backlog" in api.call("GET", "ingest", "/metrics", api.operator).text
