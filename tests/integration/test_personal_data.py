"""A person's own data (`GET /v1/me/data` on every service, `aviary me export`): everything
kept about them, nothing about anyone else, for annotators and reviewers only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aviary_devkit.processes import ServiceSet
from tests.integration.test_cli import run
from tests.support import Api, workspace

BOX = {"class_id": 1, "bbox": [10, 10, 50, 40]}
SERVICES = ("ingest", "dispatch", "review", "export", "assist")


def my_data(api: Api, token: str, service: str) -> dict[str, Any]:
    return dict(api.ok("GET", service, "/v1/me/data", token))


def test_an_annotator_gets_everything_kept_about_them_and_nobody_elses(
    services: ServiceSet, api: Api, tmp_path: Path
) -> None:
    ws = workspace(api, images=2)
    a, b = ws.annotators
    first = api.next_task(a).json()
    skip = {"lease_id": first["lease_id"], "reason": "not_applicable", "comment": "no cars"}
    api.ok("POST", "dispatch", f"/v1/tasks/{first['id']}/skip", a, json=skip)
    second = api.next_task(a).json()
    assert api.submit(a, second, [BOX]).status_code == 200
    review = api.wait_for(
        lambda: (
            (r := api.call("POST", "review", "/v1/reviews/next", ws.reviewer)).status_code == 200
            and r.json()
        )
    )
    reject = {"reason": "missing object", "comment": "the van"}
    api.ok("POST", "review", f"/v1/reviews/{review['id']}/reject", ws.reviewer, json=reject)
    # Someone of another vendor with the same name, and a colleague: none of theirs is hers.
    namesake = api.token(api.org("vendor"), "annotator", "ann-0")
    assert api.next_task(namesake, wait_s=0.2).status_code == 204
    colleague = api.next_task(b).json()
    assert api.submit(b, colleague, [BOX]).status_code == 200

    dispatch = my_data(api, a, "dispatch")
    assert (dispatch["subject"], dispatch["org_id"]) == ("ann-0", ws.vendor_id)
    records = dispatch["records"]
    kinds = [r["kind"] for r in records["slot_records"]]
    assert sorted(kinds) == ["lease", "lease", "skipped", "submitted"]
    submitted = next(r for r in records["slot_records"] if r["kind"] == "submitted")
    assert submitted["annotation"]["shapes"][0]["bbox"] == BOX["bbox"]
    assert [(s["task_id"], s["reason"], s["comment"]) for s in records["skips"]] == [
        (first["id"], "not_applicable", "no cars")
    ]
    assert {r["task_id"] for r in records["slot_records"]} == {first["id"], second["id"]}
    # Time worked reaches the database every `work_flush_s`.
    days = api.wait_for(lambda: my_data(api, a, "dispatch")["records"]["work_days"])
    assert days[0]["seconds"] > 0

    reviewed = my_data(api, a, "review")["records"]
    [mine] = reviewed["submissions"]
    assert mine["task_id"] == second["id"] and mine["status"] == "rejected"
    assert mine["rejection"]["comment"] == "the van"
    assert reviewed["scores"]
    decided = my_data(api, ws.reviewer, "review")["records"]["decided"]
    assert [d["task_id"] for d in decided] == [second["id"]]

    assert my_data(api, a, "ingest")["records"]["tokens"][0]["subject"] == "ann-0"
    for service in SERVICES:
        answer = my_data(api, a, service)
        assert answer["service"] == service
        assert '"ann-1"' not in json.dumps(answer)  # the colleague's name, anywhere
        assert my_data(api, namesake, service)["records"].get("slot_records", []) == []
        assert api.call("GET", service, "/v1/me/data", ws.client.token).status_code == 403
    audit = api.ok(
        "GET", "dispatch", "/v1/audit", api.operator, params={"action": "personal_data.exported"}
    )
    assert any(e["target"] == "ann-0" and e["actor"]["org"] == ws.vendor_id for e in audit)

    out = tmp_path / "me.json"
    code, saved = run(services, a, "me", "export", "--out", str(out))
    assert code == 0 and saved["path"] == str(out)
    whole = json.loads(out.read_text())
    assert whole["subject"] == "ann-0" and set(whole["services"]) == set(SERVICES)
    assert whole["services"]["review"]["submissions"][0]["task_id"] == second["id"]
