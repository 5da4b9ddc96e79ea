"""Onboarding through the SDK and the `aviary` command (docs/onboarding.md): a new person
trains with the SDK and reads the feedback it waits for; their vendor admin lists the gated
projects and people and admits another person by hand with a reason; refusals come back as
the API's codes."""

from __future__ import annotations

from aviary.client import AviaryError, Client, Endpoints
from aviary_devkit.processes import ServiceSet
from tests.integration.test_cli import run
from tests.integration.test_onboarding_flow import AS_PERSON, CAR, seeded_with_gold
from tests.support import Api


def endpoints(services: ServiceSet) -> Endpoints:
    return Endpoints(*(services.url(n) for n in ("ingest", "dispatch", "review", "export")))


def test_training_through_the_sdk_and_admission_through_the_command(
    services: ServiceSet, api: Api
) -> None:
    ws, admin = seeded_with_gold(api)
    project_id = ws.project["id"]
    with Client(ws.annotators[0], endpoints(services)) as new:
        [standing] = [s for s in new.my_onboarding() if s.project_id == project_id]
        assert (standing.stage, standing.training_required) == ("training", 2)
        task = new.onboarding_next(project_id)
        assert (task["stage"], task["progress"]) == ("training", [0, 2])
        submitted = new.submit_task(task, [AS_PERSON])
        told = new.training_feedback(submitted.submission_id)
        assert [s.verdict for s in told.shapes] == ["wrong_class"]
        assert told.shapes[0].guideline == "Box every car, mirrors included."
        again = new.onboarding_next(project_id)
        assert again["id"] != task["id"]
        right = new.training_feedback(new.submit_task(again, [CAR]).submission_id)
        assert right.score == 1.0 and right.shapes[0].verdict == "right"
    with Client(ws.annotators[1], endpoints(services)) as veteran:
        try:
            veteran.onboarding_next(project_id)
        except AviaryError as error:
            assert (error.status, error.code) == (409, "already_admitted")
        else:
            raise AssertionError("an admitted person got a training task")

    # The command: the vendor admin's projects and people, and an admission by hand.
    code, gated = run(services, admin, "onboarding", "projects")
    assert code == 0 and [(g["project_id"], g["admitted"]) for g in gated] == [(project_id, 1)]
    code, people = run(services, admin, "onboarding", "people", project_id)
    by_person = {p["annotator_id"]: p for p in people}
    assert code == 0 and by_person["ann-0"]["training_done"] == 2
    assert by_person["ann-0"]["stage"] == "exam" and not by_person["ann-0"]["admitted"]
    args = ("onboarding", "admit", project_id, "ann-2", "--reason", "trained at our office")
    code, admitted = run(services, admin, *args)
    assert code == 0 and admitted["admitted"] and admitted["admitted_by"] == "vendor_admin:lead"
    code, taken = run(services, admin, *args[:4], "--reason", "left us", "--take-back")
    assert code == 0 and not taken["admitted"] and taken["reason"] == "left us"
    code, mine = run(services, ws.annotators[0], "onboarding", "me")
    assert code == 0 and [m["stage"] for m in mine if m["project_id"] == project_id] == ["exam"]
    # Someone else's vendor admin: the project is not theirs to see.
    outsider = api.token(api.org("vendor"), "vendor_admin", "other")
    code, refused = run(services, outsider, *args)
    assert code == 5 and refused["error_code"] == "not_found", refused
