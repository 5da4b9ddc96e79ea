"""Every read of media by a person is in the audit log (`media.read`): the annotator's task,
a heartbeat's renewed URLs, the reviewer's unit, the client's preview and flagged queue. The
reads are written every second, an entry per person listing that second's reads."""

from __future__ import annotations

from typing import Any

from tests.support import Api, workspace

BOX = {"class_id": 1, "bbox": [10, 10, 50, 40]}


def reads(api: Api, service: str, token: str) -> list[dict[str, Any]]:
    """Every read the caller may see in a service's log, with who read it."""
    params = {"action": "media.read", "limit": 1000}
    entries = api.ok("GET", service, "/v1/audit", token, params=params)
    return [
        {**read, "actor": e["actor"], "org_ids": e["org_ids"]}
        for e in entries
        for read in e["details"]["reads"]
    ]


def test_each_person_handed_media_urls_is_recorded_with_what_and_for_how_long(api: Api) -> None:
    ws = workspace(api)
    annotator = ws.annotators[0]
    task = api.next_task(annotator).json()
    beat = {"lease_id": task["lease_id"]}
    api.ok("POST", "dispatch", f"/v1/tasks/{task['id']}/heartbeat", annotator, json=beat)
    found = api.wait_for(lambda: len(got := reads(api, "dispatch", ws.client.token)) == 2 and got)
    for read in found:  # the task, then the heartbeat's renewed URLs
        assert read["target"] == task["item_id"]
        assert (read["media"], read["ttl_s"], read["task_id"]) == ("image", 30, task["id"])
        assert read["actor"] == {"sub": "ann-0", "org": ws.vendor_id, "role": "annotator"}
        assert set(read["org_ids"]) == {ws.client.org_id, ws.vendor_id}

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
    assert seen["media"] == "image" and seen["unit_id"] == review["id"]

    preview = f"/v1/items/{task['item_id']}/preview"
    assert api.call("GET", "ingest", preview, ws.client.token).status_code == 307
    [looked] = api.wait_for(lambda: reads(api, "ingest", ws.client.token))
    assert looked["target"] == task["item_id"] and looked["media"] == "preview"
    assert looked["actor"]["role"] == "client"
    # Another tenant's log shows none of it.
    assert reads(api, "ingest", api.client().token) == []
    assert reads(api, "dispatch", api.token(api.org("vendor"), "vendor_admin", "x")) == []


def test_a_persons_reads_of_one_second_share_an_entry(api: Api) -> None:
    ws = workspace(api, images=3)
    items = api.ok("GET", "ingest", f"/v1/batches/{ws.batch_id}/items", ws.client.token)
    previews = [f"/v1/items/{item['id']}/preview" for item in items["items"]]
    # Each preview twice: made on the first read, then only a redirect (milliseconds).
    for path in previews * 2:
        assert api.call("GET", "ingest", path, ws.client.token).status_code == 307
    params = {"action": "media.read", "limit": 1000}

    def all_six() -> list[dict[str, Any]] | None:
        found = api.ok("GET", "ingest", "/v1/audit", ws.client.token, params=params)
        return found if sum(len(e["details"]["reads"]) for e in found) == 6 else None

    entries = api.wait_for(all_six)
    # Six reads in a second or two: far fewer entries than reads, each named by its count.
    assert len(entries) <= 3
    shared = [e for e in entries if len(e["details"]["reads"]) > 1]
    assert shared and all(e["target"] == f"{len(e['details']['reads'])} items" for e in shared)
