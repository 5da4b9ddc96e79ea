"""Review and quality against running services: sampling of new annotators, corrections,
consensus across overlaps, appeals, scores, statements and minimum-wage alerts."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from aviary_devkit.processes import ServiceSet
from tests.support import Api, jpeg, review_next, workspace

CAR = {"class_id": 1, "bbox": [10, 10, 50, 40]}
PERSON = {"class_id": 2, "bbox": [300, 200, 40, 90]}


def label(api: Api, token: str, shapes: list[Any], hold_s: float = 0) -> dict[str, Any]:
    """Lease the next task, work on it `hold_s`, submit `shapes`; returns the submit answer."""
    task = api.next_task(token)
    assert task.status_code == 200, task.text
    time.sleep(hold_s)
    response = api.submit(token, task.json(), shapes)
    assert response.status_code == 200, response.text
    return dict(response.json())


def my_submission(api: Api, token: str, submission_id: str) -> dict[str, Any]:
    return dict(api.ok("GET", "review", f"/v1/submissions/{submission_id}", token))


def wait_status(api: Api, token: str, submission_id: str, status: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        response = api.call("GET", "review", f"/v1/submissions/{submission_id}", token)
        if response.status_code == 200 and response.json()["status"] == status:
            return dict(response.json())
        return None

    return dict(api.wait_for(check))


def test_a_new_annotators_first_tasks_are_all_reviewed_then_the_rate_applies(api: Api) -> None:
    policy = {"mode": "sample", "rate": 0.0, "new_annotator_tasks": 2}
    ws = workspace(api, images=3, review=policy)
    annotator = ws.annotators[0]
    first = [label(api, annotator, [CAR]) for _ in range(3)]
    for expected in first[:2]:
        review = review_next(api, ws.reviewer)
        assert review["id"] == expected["submission_id"]
        api.ok("POST", "review", f"/v1/reviews/{review['id']}/accept", ws.reviewer)
    assert wait_status(api, annotator, first[2]["submission_id"], "accepted")["outcome"] == (
        "accepted"
    )
    assert api.call("POST", "review", "/v1/reviews/next", ws.reviewer).status_code == 204


def test_namesakes_of_two_vendors_are_each_new_to_the_project(api: Api) -> None:
    """Vendors name their people as they like: vendor B's "ann" is new to the project even
    after vendor A's "ann" has submitted, so her first task is reviewed too."""
    client = api.client()
    first, second = api.org("vendor"), api.org("vendor")
    shares = [{"vendor_id": first, "share": 0.5}, {"vendor_id": second, "share": 0.5}]
    policy = {"mode": "sample", "rate": 0.0, "new_annotator_tasks": 1}
    project = api.project(client, first, vendors=shares, review=policy)
    batch = api.batch(client, project["id"])
    for i in range(4):
        assert api.upload(client, batch, jpeg(3100 + i)).status_code == 201
    statuses = []
    for vendor in (first, second):
        token = api.token(vendor, "annotator", "ann")
        done = label(api, token, [CAR])
        statuses.append(wait_status(api, token, done["submission_id"], "pending")["status"])
    assert statuses == ["pending", "pending"]  # to a reviewer; "accepted" if she were not new


def test_a_correction_becomes_final_and_credits_the_kept_shapes(api: Api) -> None:
    ws = workspace(api)
    done = label(api, ws.annotators[0], [CAR, PERSON])
    review = review_next(api, ws.reviewer)
    path = f"/v1/reviews/{review['id']}/correct"
    bad = api.call(
        "POST",
        "review",
        path,
        ws.reviewer,
        json={"annotation": {"shapes": [{"class_id": 7, "bbox": [1, 1, 5, 5]}]}},
    )
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["code"] == "unknown_class"
    result = api.ok("POST", "review", path, ws.reviewer, json={"annotation": {"shapes": [CAR]}})
    assert result["status"] == "corrected" and result["credit"] == pytest.approx(2 / 3, abs=1e-4)
    assert my_submission(api, ws.annotators[0], done["submission_id"])["outcome"] == "corrected"
    again = api.call("POST", "review", path, ws.reviewer, json={"annotation": {"shapes": [CAR]}})
    assert again.status_code == 409


def consensus_workspace(api: Api, overlap: int) -> tuple[Any, list[str]]:
    ws = workspace(api, overlap=overlap, review={"mode": "consensus", "min_agreement": 0.8})
    annotators = [*ws.annotators, api.token(ws.vendor_id, "annotator", "ann-2")][:overlap]
    return ws, annotators


def test_agreeing_overlaps_are_merged_without_a_human(api: Api) -> None:
    ws, annotators = consensus_workspace(api, 3)
    jitter = [[10, 10, 50, 40], [12, 10, 50, 40], [14, 10, 50, 40]]
    subs = [
        label(api, a, [{"class_id": 1, "bbox": box}, PERSON])
        for a, box in zip(annotators, jitter, strict=True)
    ]
    for annotator, done in zip(annotators, subs, strict=True):
        assert wait_status(api, annotator, done["submission_id"], "accepted")
    assert api.call("POST", "review", "/v1/reviews/next", ws.reviewer).status_code == 204
    scores = api.ok(
        "GET", "review", "/v1/scores", ws.client.token, params={"project_id": ws.project["id"]}
    )
    assert {row["key"] for row in scores["rows"]} == {"ann-0", "ann-1", "ann-2"}
    assert all(row["agreement"] == 1.0 for row in scores["rows"])


def test_disagreeing_overlaps_go_to_a_human_side_by_side(api: Api) -> None:
    ws, annotators = consensus_workspace(api, 2)
    a, b = annotators
    sub_a = label(api, a, [CAR, PERSON])
    sub_b = label(api, b, [CAR])
    review = review_next(api, ws.reviewer)
    assert review["kind"] == "consensus"
    assert sorted(o["submission_id"] for o in review["overlaps"]) == sorted(
        [sub_a["submission_id"], sub_b["submission_id"]]
    )
    assert review["annotation"]["shapes"] == [
        {**CAR, "kind": "bbox", "attributes": {}, "source": None, "rotation": 0.0}
    ]
    reject = api.call(
        "POST",
        "review",
        f"/v1/reviews/{review['id']}/reject",
        ws.reviewer,
        json={"reason": "loose box", "comment": "x"},
    )
    assert reject.status_code == 409
    path = f"/v1/reviews/{review['id']}/correct"
    api.ok("POST", "review", path, ws.reviewer, json={"annotation": {"shapes": [CAR, PERSON]}})
    assert wait_status(api, a, sub_a["submission_id"], "accepted")
    assert wait_status(api, b, sub_b["submission_id"], "corrected")


def test_an_appeal_is_decided_by_another_reviewer_once(api: Api) -> None:
    ws = workspace(api)
    annotator = ws.annotators[0]
    done = label(api, annotator, [CAR])
    review = review_next(api, ws.reviewer)
    body = {"reason": "loose box", "comment": "Too wide."}
    api.ok("POST", "review", f"/v1/reviews/{review['id']}/reject", ws.reviewer, json=body)
    rejected = wait_status(api, annotator, done["submission_id"], "rejected")
    assert rejected["rejection"] == body
    appeal_body = {"submission_id": done["submission_id"], "comment": "It is tight."}
    blank = api.call(
        "POST", "review", "/v1/appeals", annotator, json={**appeal_body, "comment": ""}
    )
    assert blank.status_code == 422
    other_annotator = ws.annotators[1]
    assert (
        api.call("POST", "review", "/v1/appeals", other_annotator, json=appeal_body).status_code
        == 404
    )
    opened = api.ok("POST", "review", "/v1/appeals", annotator, json=appeal_body)
    assert opened["appeal"]["status"] == "open"
    twice = api.call("POST", "review", "/v1/appeals", annotator, json=appeal_body)
    assert twice.json()["error"]["code"] == "already_appealed"
    # The reviewer who rejected it is never offered the appeal, nor may decide it.
    assert api.call("POST", "review", "/v1/appeals/next", ws.reviewer).status_code == 204
    decide = f"/v1/appeals/{done['submission_id']}/decide"
    overturn = {"decision": "overturn", "comment": "The box is fine."}
    assert api.call("POST", "review", decide, ws.reviewer, json=overturn).status_code == 403
    second = api.token(ws.vendor_id, "reviewer", "rev-2")
    assert review_next(api, second, "/v1/appeals/next")["id"] == done["submission_id"]
    decided = api.ok("POST", "review", decide, second, json=overturn)
    assert decided["appeal"]["status"] == "overturned"
    mine = api.ok("GET", "review", "/v1/scores", annotator)
    assert [(r["key"], r["appealed"], r["overturned"]) for r in mine["rows"]] == [("ann-0", 1, 1)]


def test_reviewers_and_annotators_of_another_vendor_see_nothing(api: Api) -> None:
    ws = workspace(api)
    done = label(api, ws.annotators[0], [CAR])
    review = review_next(api, ws.reviewer)
    stranger_vendor = api.org("vendor")
    reviewer = api.token(stranger_vendor, "reviewer", "rev")
    annotator = api.token(stranger_vendor, "annotator", "ann-0")  # same name, other vendor
    assert api.call("GET", "review", f"/v1/reviews/{review['id']}", reviewer).status_code == 404
    accept = api.call("POST", "review", f"/v1/reviews/{review['id']}/accept", reviewer)
    assert accept.status_code == 404
    path = f"/v1/submissions/{done['submission_id']}"
    assert api.call("GET", "review", path, annotator).status_code == 404
    assert api.ok("GET", "review", "/v1/scores", annotator)["rows"] == []
    assert api.ok("GET", "review", "/v1/scores", api.client().token)["rows"] == []


def test_statements_show_pay_for_all_completed_work_and_alert_below_minimum_wage(
    api: Api,
) -> None:
    ws = workspace(api, images=2, piece_rate=0.05)
    annotator = ws.annotators[0]
    for _ in range(2):
        label(api, annotator, [CAR], hold_s=0.6)  # 2 x 0.6 s for 0.10: about 300 an hour
    first = review_next(api, ws.reviewer)
    api.ok("POST", "review", f"/v1/reviews/{first['id']}/accept", ws.reviewer)
    second = review_next(api, ws.reviewer)
    body = {"reason": "loose box", "comment": "Too wide."}
    api.ok("POST", "review", f"/v1/reviews/{second['id']}/reject", ws.reviewer, json=body)
    admin = api.token(ws.vendor_id, "vendor_admin", "boss")
    path = f"/v1/vendors/{ws.vendor_id}/annotators/ann-0/statement"
    sheet = api.wait_for(
        lambda: (
            (s := api.ok("GET", "review", path, admin))["lines"]
            and s["lines"][0]["rejected"] == 1
            and s
        )
    )
    line = sheet["lines"][0]
    assert (line["completed"], line["accepted"], line["rejected"]) == (2, 1, 1)
    assert line["earnings"] == pytest.approx(0.10) and line["piece_rate"] == 0.05
    assert api.ok("GET", "review", path, annotator) == sheet  # the worker sees the same page
    assert api.call("GET", "review", path, ws.annotators[1]).status_code == 404
    wage = f"/v1/vendors/{ws.vendor_id}/minimum-wage"
    assert api.call("PUT", "review", wage, annotator, json={"hourly": 5}).status_code == 403
    assert sheet["effective_hourly"] < 400
    assert api.ok("GET", "review", wage, admin) == {"hourly": None}
    api.ok("PUT", "review", wage, admin, json={"hourly": 1000})
    assert api.ok("GET", "review", wage, admin) == {"hourly": 1000}
    card = api.ok("GET", "review", f"/v1/vendors/{ws.vendor_id}/fair-work", admin)
    [row] = card["people"]
    assert card["minimum_wage"] == 1000 and row["annotator_id"] == "ann-0"
    assert (row["completed"], row["rejected"], row["below_minimum_wage"]) == (2, 1, True)
    assert row["earnings"] == pytest.approx(0.10) and row["effective_hourly"] < 1000
    alerts = api.ok("GET", "review", f"/v1/vendors/{ws.vendor_id}/wage-alerts", admin)
    assert [a["annotator_id"] for a in alerts] == ["ann-0"]
    assert alerts[0]["effective_hourly"] < 1000
    other = api.token(api.org("vendor"), "vendor_admin", "boss")
    assert (
        api.call("GET", "review", f"/v1/vendors/{ws.vendor_id}/wage-alerts", other).status_code
        == 404
    )


def test_each_vendor_is_paid_its_own_piece_rate_else_the_projects(api: Api) -> None:
    started_on = datetime.now(UTC).date().isoformat()
    client = api.client()
    dear, plain = api.org("vendor", "aaa dear"), api.org("vendor", "aaa plain")
    listed = api.ok("GET", "ingest", "/v1/vendors", client.token)
    assert {"id": dear, "name": "aaa dear"} in listed and {
        "id": plain,
        "name": "aaa plain",
    } in listed
    assert [v["name"] for v in listed] == sorted(v["name"] for v in listed)
    assert (
        api.call("GET", "ingest", "/v1/vendors", api.token(dear, "annotator", "x")).status_code
        == 403
    )
    shares = [
        {"vendor_id": dear, "share": 0.5, "piece_rate": 0.2},
        {"vendor_id": plain, "share": 0.5},
    ]
    project = api.project(client, dear, vendors=shares, piece_rate=0.05, review={"mode": "auto"})
    assert (
        project["vendors"][0]["piece_rate"] == 0.2 and project["vendors"][1]["piece_rate"] is None
    )
    too_dear = [{"vendor_id": dear, "share": 1, "piece_rate": -1}]
    refused = api.call(
        "PUT",
        "ingest",
        f"/v1/projects/{project['id']}",
        client.token,
        json={"name": "x", "ontology": project["ontology"], "vendors": too_dear},
    )
    assert refused.status_code == 422
    batch = api.batch(client, project["id"])
    for i in range(4):
        assert api.upload(client, batch, jpeg(2000 + i)).status_code == 201
    rates = {}
    for vendor in (dear, plain):
        token = api.token(vendor, "annotator", "ann")
        me = api.ok("GET", "ingest", "/v1/me", token)
        assert (me["subject"], me["role"], me["vendor_id"]) == ("ann", "annotator", vendor)
        assert (
            me["vendor_name"] == me["org_name"] == ("aaa dear" if vendor == dear else "aaa plain")
        )
        task = api.next_task(token).json()
        rates[vendor] = task["piece_rate"]
        assert api.submit(token, task, [CAR]).status_code == 200
        admin = api.token(vendor, "vendor_admin", "boss")
        path = f"/v1/vendors/{vendor}/annotators/ann/statement"
        sheet = api.wait_for(
            lambda path=path, admin=admin: api.ok("GET", "review", path, admin)["lines"]
        )
        assert sheet[0]["piece_rate"] == rates[vendor]
    assert rates == {dear: 0.2, plain: 0.05}
    # Scores name vendors and projects (an annotator's key is already their name).
    query = {"group_by": "vendor", "project_id": project["id"]}
    by_vendor = api.ok("GET", "review", "/v1/scores", client.token, params=query)["rows"]
    assert {(r["key"], r["name"]) for r in by_vendor} == {(dear, "aaa dear"), (plain, "aaa plain")}
    daily = api.ok("GET", "review", "/v1/scores", client.token, params={**query, "per_day": "true"})
    today = datetime.now(UTC).date().isoformat()
    # Each vendor on the day of the test (two days only if it crossed midnight).
    rows = {(r["key"], r["day"]) for r in daily["rows"]}
    assert {key for key, _ in rows} == {dear, plain}
    assert rows <= {(v, day) for v in (dear, plain) for day in (started_on, today)}
    query["group_by"] = "project"
    [by_project] = api.ok("GET", "review", "/v1/scores", client.token, params=query)["rows"]
    assert (by_project["key"], by_project["name"]) == (project["id"], "test project")
    query["group_by"] = "annotator"
    # Each vendor's "ann" is their own person: two rows, each naming its vendor.
    rows = api.ok("GET", "review", "/v1/scores", client.token, params=query)["rows"]
    assert {(r["key"], r["vendor_id"], r["vendor_name"], r["submitted"]) for r in rows} == {
        ("ann", dear, "aaa dear", 1),
        ("ann", plain, "aaa plain", 1),
    }
    assert {r["name"] for r in rows} == {None}


def test_gold_tasks_are_mixed_in_scored_and_never_delivered(api: Api) -> None:
    ws = workspace(api, review={"mode": "auto", "gold_rate": 1.0})
    annotator = ws.annotators[0]
    first = api.next_task(annotator).json()
    first_submission = api.submit(annotator, first, [CAR])
    assert first_submission.status_code == 200
    gold_path = f"/v1/projects/{ws.project['id']}/gold"
    body = {"item_id": first["item_id"], "annotation": {"shapes": [CAR]}}
    outsider = api.client()
    assert api.call("POST", "review", gold_path, outsider.token, json=body).status_code == 404
    unknown = api.call("POST", "review", gold_path, ws.client.token, json={**body, "item_id": "x"})
    assert unknown.status_code == 404

    def created() -> dict[str, Any] | None:
        response = api.call("POST", "review", gold_path, ws.client.token, json=body)
        return dict(response.json()) if response.status_code == 201 else None

    gold = api.wait_for(created)  # once review has recorded the first submission
    bad = {**body, "annotation": {"shapes": [{"class_id": 1, "bbox": [600, 400, 100, 100]}]}}
    assert api.call("POST", "review", gold_path, ws.client.token, json=bad).status_code == 422
    assert api.ok("GET", "review", gold_path, ws.reviewer)[0]["id"] == gold["id"]
    for seed in (5001, 5002):
        assert api.upload(ws.client, ws.batch_id, jpeg(seed)).status_code == 201
    # Each new item brings one gold task (rate 1.0): four tasks, which look alike.
    tasks = [api.next_task(annotator, wait_s=10).json() for _ in range(4)]
    assert len({frozenset(t) for t in tasks}) == 1
    assert sum(t["item_id"] == first["item_id"] for t in tasks) == 2
    for task, shapes in zip(tasks, ([CAR], [CAR], [CAR], [PERSON]), strict=True):
        assert api.submit(annotator, task, shapes).status_code == 200

    def gold_scored() -> dict[str, Any] | None:
        rows = api.ok("GET", "review", "/v1/scores", annotator)["rows"]
        return (
            rows[0]
            if rows and rows[0]["gold_accuracy"] is not None and rows[0]["submitted"] == 5
            else None
        )

    row = api.wait_for(gold_scored)
    gold_tasks = [t for t in tasks if t["item_id"] == first["item_id"]]
    expected = (1.0 + (0.0 if tasks[3] in gold_tasks else 1.0)) / 2
    assert row["gold_accuracy"] == expected
    # Never delivered: the batch counts its own three items as accepted, nothing more.
    progress = api.wait_for(
        lambda: (
            (p := api.ok("GET", "ingest", f"/v1/batches/{ws.batch_id}", ws.client.token))
            and p["progress"]["accepted"] == 3
            and p
        )
    )
    assert progress["progress"]["received"] == 3
    # Each gold task as scored, newest first, and side by side with the known answer.
    results = api.ok("GET", "review", f"{gold_path}/results", ws.reviewer)
    assert [r["annotator_id"] for r in results] == ["ann-0", "ann-0"]
    assert sorted(r["score"] for r in results) == sorted(
        [1.0, 0.0 if tasks[3] in gold_tasks else 1.0]
    )
    assert results[0]["at"] >= results[1]["at"] and {r["gold_id"] for r in results} == {gold["id"]}
    assert (
        api.ok(
            "GET",
            "review",
            f"{gold_path}/results",
            ws.client.token,
            params={"annotator_id": "ann-1"},
        )
        == []
    )
    side = api.ok(
        "GET", "review", f"{gold_path}/results/{results[0]['submission_id']}", ws.client.token
    )
    assert (
        side["answer"]["shapes"][0]["bbox"] == CAR["bbox"] and side["score"] == results[0]["score"]
    )
    assert side["submitted"]["shapes"] and api.http.get(side["image"]["url"]).status_code == 200
    other_vendor = api.token(api.org("vendor"), "reviewer", "rev")
    assert api.call("GET", "review", f"{gold_path}/results", other_vendor).status_code == 404
    not_gold = api.call(
        "GET",
        "review",
        f"{gold_path}/results/{first_submission.json()['submission_id']}",
        ws.client.token,
    )
    assert not_gold.status_code == 404
    retire = api.call("DELETE", "review", f"{gold_path}/{gold['id']}", ws.client.token)
    assert retire.status_code == 204
    assert api.ok("GET", "review", gold_path, ws.client.token)[0]["active"] is False


def test_a_client_can_review_its_own_project_with_its_own_reviewers(api: Api) -> None:
    ws = workspace(api, review={"mode": "all", "reviewed_by": "client"})
    own_reviewer = api.token(ws.client.org_id, "reviewer", "client-qa")
    body = {"org_id": ws.client.org_id, "role": "annotator", "subject": "x"}
    annotator = api.call("POST", "ingest", "/v1/tokens", api.operator, json=body)
    assert annotator.json()["error"]["code"] == "role_mismatch"  # annotators are vendor people
    other_client_reviewer = api.token(api.client().org_id, "reviewer", "client-qa")
    done = label(api, ws.annotators[0], [CAR])
    review = review_next(api, own_reviewer)
    assert review["id"] == done["submission_id"]
    # The vendor's reviewers and other clients' reviewers are not given it.
    assert api.call("POST", "review", "/v1/reviews/next", ws.reviewer).status_code == 204
    path = f"/v1/reviews/{review['id']}/accept"
    assert api.call("POST", "review", path, ws.reviewer).status_code == 404
    assert api.call("POST", "review", path, other_client_reviewer).status_code == 404
    assert api.ok("POST", "review", path, own_reviewer)["status"] == "accepted"
    assert wait_status(api, ws.annotators[0], done["submission_id"], "accepted")


@pytest.mark.parametrize("restart", [False, True], ids=["same-process", "after-restart"])
def test_next_hands_an_undecided_unit_back_to_its_reviewer_not_a_second_one(
    api: Api, services: ServiceSet, restart: bool
) -> None:
    """A reviewer whose answer to `next` was lost (a dropped connection, or the review process
    killed before the answer left it) asks again: they get the same unit, not a second one, so
    the first does not wait out its review lease. After a restart the unit is found through
    the database."""
    ws = workspace(api, images=2)
    label(api, ws.annotators[0], [CAR])
    done = label(api, ws.annotators[0], [CAR])
    first = review_next(api, ws.reviewer)
    if restart:
        # Both submissions recorded first: a kill mid-transaction would hold the second one
        # up until the database aborts the dead process's transaction (about a minute).
        wait_status(api, ws.annotators[0], done["submission_id"], "pending")
        services.kill("review")
        services.start("review")
        services.wait_ready("review")
    again = review_next(api, ws.reviewer)
    assert again["id"] == first["id"]
    api.ok("POST", "review", f"/v1/reviews/{first['id']}/accept", ws.reviewer)
    second = review_next(api, ws.reviewer)
    assert second["id"] != first["id"]
    api.ok("POST", "review", f"/v1/reviews/{second['id']}/accept", ws.reviewer)
    other_vendor = workspace(api)
    assert api.call("POST", "review", "/v1/reviews/next", other_vendor.reviewer).status_code == 204


def test_next_review_waits_for_a_submission_that_arrives_while_it_waits(api: Api) -> None:
    ws = workspace(api)
    with ThreadPoolExecutor(1) as pool:
        started = time.monotonic()
        waiting = pool.submit(
            api.call, "POST", "review", "/v1/reviews/next", ws.reviewer, params={"wait_s": 20}
        )
        time.sleep(1.5)
        assert not waiting.done(), "with nothing queued, the call waits"
        done = label(api, ws.annotators[0], [CAR])
        response = waiting.result(timeout=25)
        elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert response.json()["id"] == done["submission_id"]
    assert elapsed < 15, f"the unit came {elapsed:.1f} s after the call, not when it arrived"


def test_next_review_with_nothing_queued_answers_204_after_the_wait(api: Api) -> None:
    ws = workspace(api)
    started = time.monotonic()
    response = api.call("POST", "review", "/v1/reviews/next", ws.reviewer, params={"wait_s": 1.5})
    assert response.status_code == 204
    assert 1.4 <= time.monotonic() - started < 10
    response = api.call("POST", "review", "/v1/appeals/next", ws.reviewer, params={"wait_s": 1})
    assert response.status_code == 204


@pytest.mark.parametrize("wait_s", ["-1", "31", "soon"])
def test_next_review_refuses_a_bad_wait(api: Api, wait_s: str) -> None:
    ws = workspace(api)
    for path in ("/v1/reviews/next", "/v1/appeals/next"):
        response = api.call("POST", "review", path, ws.reviewer, params={"wait_s": wait_s})
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "invalid_request"
