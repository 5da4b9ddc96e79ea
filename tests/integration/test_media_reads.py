"""Every read of media by a person is in the audit log (`media.read`): the annotator's task,
a heartbeat's renewed URLs, the reviewer's unit, the client's preview and flagged queue."""

from __future__ import annotations

from typing import Any

from tests.support import Api, workspace

BOX = {"class_id": 1, "bbox": [10, 10, 50, 40]}


def reads(api: Api, service: str, token: str) -> list[dict[str, Any]]:
    params = {"action": "media.read", "limit": 1000}
    return list(api.ok("GET", service, "/v1/audit", token, params=params))


def test_each_person_handed_media_urls_is_recorded_with_what_and_for_how_long(api: Api) -> None:
    ws = workspace(api)
    annotator = ws.annotators[0]
    task = api.next_task(annotator).json()
    beat = {"lease_id": task["lease_id"]}
    api.ok("POST", "dispatch", f"/v1/tasks/{task['id']}/heartbeat", annotator, json=beat)
    # Noted as the URLs go out, written within a second.
    found = api.wait_for(lambda: len(got := reads(api, "dispatch", ws.client.token)) == 2 and got)
    [first, renewed] = sorted(found, key=lambda e: e["at"])
    for entry in (first, renewed):
        assert entry["target"] == task["item_id"]
        assert entry["actor"] == {"sub": "ann-0", "org": ws.vendor_id, "role": "annotator"}
        assert entry["details"] == {"media": "image", "ttl_s": 30, "task_id": task["id"]}
        assert set(entry["org_ids"]) == {ws.client.org_id, ws.vendor_id}

    assert api.submit(annotator, task, [BOX]).status_code == 200
    review = api.wait_for(
        lambda: (
            (r := api.call("POST", "review", "/v1/reviews/next", ws.reviewer)).status_code == 200
            and r.json()
        )
    )
    boss = api.token(ws.vendor_id, "vendor_admin", "boss")
    [seen] = api.wait_for(lambda: reads(api, "review", boss))
    assert seen["target"] == task["item_id"] and seen["actor"]["sub"] == "rev"
    assert seen["details"]["media"] == "image" and seen["details"]["unit_id"] == review["id"]

    preview = f"/v1/items/{task['item_id']}/preview"
    assert api.call("GET", "ingest", preview, ws.client.token).status_code == 307
    [looked] = api.wait_for(lambda: reads(api, "ingest", ws.client.token))
    assert looked["target"] == task["item_id"] and looked["details"]["media"] == "preview"
    assert looked["actor"]["role"] == "client"
    # Another tenant's log shows none of it.
    assert reads(api, "ingest", api.client().token) == []
    assert reads(api, "dispatch", api.token(api.org("vendor"), "vendor_admin", "x")) == []
