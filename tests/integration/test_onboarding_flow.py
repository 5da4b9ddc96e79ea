"""Onboarding against running services (docs/onboarding.md): a project that asks for it keeps
its production tasks from new people until they have trained (with feedback shape by shape)
and passed its exam; a vendor admin admits by hand with a reason; a failed exam waits for its
retry; training time is paid at the vendor's training rate."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from services.dispatch.onboarding import for_exam
from tests.support import Api, Workspace, jpeg

CAR = {"class_id": 1, "bbox": [40, 40, 120, 80]}
AS_PERSON = {"class_id": 2, "bbox": [42, 41, 118, 80]}  # the car, drawn as a person
PERSON = {"class_id": 2, "bbox": [300, 200, 40, 90]}
ONTOLOGY = {
    "classes": [
        {"id": 1, "name": "car", "guideline": "Box every car, mirrors included."},
        {"id": 2, "name": "person", "guideline": "Box people on foot, not in cars."},
    ]
}
ONBOARDING = {"training_tasks": 2, "exam_tasks": 2, "pass_mark": 0.8, "retry_after_hours": 1}
SEEDS = 9_200_000  # pictures no other test pushes


def onboarding_next(api: Api, token: str, ws: Workspace) -> httpx.Response:
    path = f"/v1/projects/{ws.project['id']}/onboarding/next"
    return api.call("POST", "dispatch", path, token)


def code(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def feedback(api: Api, token: str, submission_id: str) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        got = api.call("GET", "review", f"/v1/feedback/{submission_id}", token)
        return dict(got.json()) if got.status_code == 200 else None

    return dict(api.wait_for(ready))


def standing(api: Api, token: str, project_id: str) -> dict[str, Any] | None:
    mine = api.ok("GET", "review", "/v1/onboarding/me", token)
    return next((r for r in mine if r["project_id"] == project_id), None)


def seeded_with_gold(
    api: Api,
    onboarding: dict[str, Any] = ONBOARDING,
    answer: tuple[dict[str, Any], ...] = (CAR,),
    exam_items: int = 2,
) -> tuple[Workspace, str]:
    """A project asking for onboarding, its items labeled by a veteran the vendor admin let
    in by hand, and gold items (`answer` their shapes) enough for training (2) and exams
    (`exam_items`), each in its part for good."""
    client = api.client()
    vendor = api.org("vendor")
    annotators = [api.token(vendor, "annotator", f"ann-{i}") for i in range(3)]
    project = api.project(
        client,
        vendor,
        ontology=ONTOLOGY,
        review={"mode": "auto"},
        onboarding=onboarding,
        vendors=[{"vendor_id": vendor, "share": 1.0, "training_rate": 12.0}],
    )
    batch = api.batch(client, project["id"])
    ws = Workspace(client, vendor, annotators, api.token(vendor, "reviewer", "rev"), project, batch)
    admin = api.token(vendor, "vendor_admin", "lead")
    veteran = annotators[1]

    def let_in() -> dict[str, Any] | None:  # once review has the project
        got = api.call(
            "PUT",
            "review",
            f"/v1/projects/{project['id']}/onboarding/ann-1",
            admin,
            json={"reason": "labels for us since 2024"},
        )
        return dict(got.json()) if got.status_code == 200 else None

    admitted = api.wait_for(let_in)
    assert admitted["admitted"] and admitted["admitted_by"] == "vendor_admin:lead"
    gold_path = f"/v1/projects/{project['id']}/gold"
    parts = {True: 0, False: 0}
    seed = SEEDS
    while parts[False] < 2 or parts[True] < exam_items:
        seed += 1
        assert seed < SEEDS + 40, "the gold items' split never filled both parts"
        assert api.upload(client, batch, jpeg(seed)).status_code == 201
        task = api.wait_for(lambda: _task(api, veteran))
        assert api.submit(veteran, task, list(answer)).status_code == 200
        body = {"item_id": task["item_id"], "annotation": {"shapes": list(answer)}}

        def created(body: dict[str, Any] = body) -> dict[str, Any] | None:
            got = api.call("POST", "review", gold_path, client.token, json=body)
            return dict(got.json()) if got.status_code == 201 else None

        parts[for_exam(api.wait_for(created)["id"])] += 1
    return ws, admin


def _task(api: Api, token: str) -> dict[str, Any] | None:
    got = api.next_task(token, wait_s=2)
    return dict(got.json()) if got.status_code == 200 else None


def test_a_new_person_trains_with_feedback_passes_the_exam_and_gets_production_work(
    api: Api,
) -> None:
    ws, admin = seeded_with_gold(api)
    project_id = ws.project["id"]
    new, veteran = ws.annotators[0], ws.annotators[1]
    # Production work waits for admitted people only.
    assert api.upload(ws.client, ws.batch_id, jpeg(SEEDS - 1)).status_code == 201
    assert api.next_task(new, wait_s=2).status_code == 204
    # Their standing shows the project before they did anything in it: where to start.
    fresh = standing(api, new, project_id)
    assert fresh is not None and fresh["project_name"] == ws.project["name"]
    assert (fresh["stage"], fresh["training_done"], fresh["training_required"]) == (
        "training",
        0,
        2,
    )
    assert fresh["pass_mark"] == 0.8 and not fresh["admitted"]
    # Training: the first task drawn wrong (the car as a person) and told so, shape by shape.
    first = onboarding_next(api, new, ws).json()
    assert (first["stage"], first["progress"]) == ("training", [0, 2])
    submitted = api.submit(new, first, [AS_PERSON]).json()
    told = feedback(api, new, submitted["submission_id"])
    [shape] = told["shapes"]
    assert (shape["verdict"], shape["class_name"], shape["expected_class"]) == (
        "wrong_class",
        "person",
        "car",
    )
    assert shape["guideline"] == "Box every car, mirrors included."
    assert told["score"] == 0.0 and told["answer"]["shapes"][0]["bbox"] == CAR["bbox"]
    second = onboarding_next(api, new, ws).json()
    assert "stage" in second, second
    assert second["stage"] == "training" and second["id"] != first["id"]
    time.sleep(0.5)  # time on a training task: paid below
    done = api.submit(new, second, [CAR]).json()
    assert feedback(api, new, done["submission_id"])["shapes"][0]["verdict"] == "right"
    # The exam: items never shown in training, no feedback, scored together.
    exam_items = set()
    for n in range(2):
        task = onboarding_next(api, new, ws).json()
        assert (task["stage"], task["progress"]) == ("exam", [n, 2])
        exam_items.add(task["item_id"])
        exam_submission = api.submit(new, task, [CAR]).json()
    assert exam_items.isdisjoint({first["item_id"], second["item_id"]})
    missing = api.call("GET", "review", f"/v1/feedback/{exam_submission['submission_id']}", new)
    assert code(missing) == (404, "not_scored_yet")
    mine = api.wait_for(lambda: (s := standing(api, new, project_id)) and s["admitted"] and s)
    assert mine["admitted_by"] == "exam" and mine["attempts"][0]["passed"] is True
    assert mine["stage"] == "admitted" and mine["skill"] is not None
    assert code(onboarding_next(api, new, ws)) == (409, "already_admitted")
    # Admitted: production tasks come.
    assert api.wait_for(lambda: _task(api, new))["stage"] == "production"
    # The vendor admin sees who trained, who passed, who was let in by hand and why.
    people = api.ok("GET", "review", f"/v1/projects/{project_id}/onboarding", admin)
    by_person = {p["annotator_id"]: p for p in people}
    assert by_person["ann-0"]["training_done"] == 2 and by_person["ann-0"]["admitted_by"] == "exam"
    assert by_person["ann-1"]["reason"] == "labels for us since 2024"
    outsider_admin = api.token(api.org("vendor"), "vendor_admin", "other")
    path = f"/v1/projects/{project_id}/onboarding"
    assert api.call("GET", "review", path, outsider_admin).status_code == 404
    # The projects asking for onboarding, as each sees them: counts of the admin's own people.
    [gated] = api.ok("GET", "review", "/v1/onboarding/projects", admin)
    assert (gated["project_id"], gated["people"], gated["admitted"]) == (project_id, 2, 2)
    assert gated["onboarding"]["exam_tasks"] == 2
    assert api.ok("GET", "review", "/v1/onboarding/projects", outsider_admin) == []
    by_client = api.ok("GET", "review", "/v1/onboarding/projects", ws.client.token)
    assert [g["project_id"] for g in by_client] == [project_id]
    # Training is paid by the hour at the vendor's training rate.
    statement = api.ok(
        "GET", "review", f"/v1/vendors/{ws.vendor_id}/annotators/ann-0/statement", new
    )
    [line] = [x for x in statement["lines"] if x["project_id"] == project_id]
    assert line["training_rate"] == 12.0 and line["training_seconds"] >= 0.5
    piece = line["completed"] * line["piece_rate"]
    assert line["earnings"] == round(piece + line["training_seconds"] / 3600 * 12.0, 4)
    assert veteran != new


def test_a_failed_exam_waits_for_its_retry(api: Api) -> None:
    ws, _ = seeded_with_gold(api)
    failing = ws.annotators[2]
    for _ in range(2):
        task = onboarding_next(api, failing, ws).json()
        assert task["stage"] == "training"
        assert api.submit(failing, task, [CAR]).status_code == 200
    for _ in range(2):
        task = onboarding_next(api, failing, ws).json()
        assert task["stage"] == "exam"
        assert api.submit(failing, task, [AS_PERSON]).status_code == 200

    def refused() -> httpx.Response | None:
        got = onboarding_next(api, failing, ws)
        return got if got.status_code == 409 and code(got)[1] == "retry_later" else None

    answer = api.wait_for(refused)
    assert answer.json()["error"]["details"]["retry_at"]
    mine = standing(api, failing, ws.project["id"])
    assert mine is not None and not mine["admitted"] and mine["stage"] == "waiting"
    assert mine["attempts"][0]["passed"] is False and mine["attempts"][0]["mean"] == 0.0
    assert api.next_task(failing, wait_s=1).status_code == 204


def test_a_person_weak_on_a_hard_class_is_not_offered_tasks_pre_labeled_with_it(
    api: Api,
) -> None:
    onboarding = {"training_tasks": 3, "exam_tasks": 0, "class_min_skill": {"person": 0.7}}
    ws, _ = seeded_with_gold(api, onboarding, answer=(CAR, PERSON), exam_items=0)
    new, veteran = ws.annotators[0], ws.annotators[1]
    for _ in range(3):  # the car every time, the person never
        task = onboarding_next(api, new, ws).json()
        assert task.get("stage") == "training", task
        done = api.submit(new, task, [CAR]).json()
        verdicts = sorted(s["verdict"] for s in feedback(api, new, done["submission_id"])["shapes"])
        assert verdicts == ["missed", "right"]
    mine = api.wait_for(lambda: (s := standing(api, new, ws.project["id"])) and s["admitted"] and s)
    assert mine["held_classes"] == ["person"] and mine["class_skill"]["car"] == 1.0
    # Production: a picture pre-labeled with a person waits for someone else.
    for seed, pre in ((SEEDS - 5, PERSON), (SEEDS - 6, CAR)):
        shapes = {"shapes": [{"class_id": pre["class_id"], "bbox": pre["bbox"]}]}
        pushed = api.call(
            "POST",
            "ingest",
            f"/v1/batches/{ws.batch_id}/items",
            ws.client.token,
            content=jpeg(seed),
            headers={"content-type": "image/jpeg", "x-pre-annotation": json.dumps(shapes)},
        )
        assert pushed.status_code == 201
    offered = api.wait_for(lambda: _task(api, new))
    assert offered["pre_annotation"]["shapes"][0]["class_id"] == CAR["class_id"]
    assert api.next_task(new, wait_s=1).status_code == 204
    held_back = api.wait_for(lambda: _task(api, veteran))
    assert held_back["pre_annotation"]["shapes"][0]["class_id"] == PERSON["class_id"]
