"""`aviary delete` and `aviary deletions` against the running services: a client deletes a
batch and keeps the certificate (its digest checked as the services compute it), then a
project; the operator deletes a client organisation; refusals exit 5."""

from __future__ import annotations

import json
from pathlib import Path

from aviary.client import verify_certificate
from aviary_devkit.processes import ServiceSet
from services.ingest.deletions import SERVICES, certificate_digest
from tests.integration.test_cli import run
from tests.support import Api, workspace


def test_a_client_deletes_a_batch_and_a_project_and_keeps_the_certificate(
    services: ServiceSet, api: Api, tmp_path: Path
) -> None:
    ws = workspace(api, images=2, review={"mode": "auto"})
    token = ws.client.token
    path = tmp_path / "certificate.json"
    code, done = run(
        services, token, "delete", "batch", ws.batch_id, "--certificate", str(path),
        "--timeout", "60",
    )  # fmt: skip
    assert code == 0, done
    assert (done["scope"], done["target_id"], done["status"]) == ("batch", ws.batch_id, "complete")
    assert done["certificate_file"] == str(path)
    assert sorted(done["services_done"]) == sorted(SERVICES)
    # The file holds the certificate as the API gave it, and its digest checks out both ways.
    certificate = json.loads(path.read_text())
    assert certificate == done["certificate"]
    assert verify_certificate(certificate)
    assert certificate_digest(certificate) == certificate["digest"]
    assert certificate["services"]["ingest"]["records"]["items"] == 2
    assert len(certificate["content_sha256"]) == 2
    assert api.call("GET", "ingest", f"/v1/batches/{ws.batch_id}", token).status_code == 404
    # Asked again: the same deletion, complete.
    code, again = run(services, token, "delete", "batch", ws.batch_id)
    assert code == 0 and again["id"] == done["id"] and again["status"] == "complete"

    # The project, without waiting: pending at first, listed newest first, then followed.
    code, project = run(services, token, "delete", "project", ws.project["id"])
    assert code == 0 and project["status"] == "pending", project
    code, listed = run(services, token, "deletions")
    assert code == 0 and [d["id"] for d in listed] == [project["id"], done["id"]]
    code, followed = run(
        services, token, "delete", "project", ws.project["id"], "--wait", "--timeout", "60"
    )
    assert code == 0 and followed["id"] == project["id"] and followed["status"] == "complete"
    assert verify_certificate(followed["certificate"])

    # Refusals: another client's (or no) item, and an organisation (the operator's to delete).
    code, refused = run(services, api.client().token, "delete", "item", "itm_nope")
    assert code == 5 and refused["status"] == 404
    code, refused = run(services, token, "delete", "org", ws.client.org_id)
    assert code == 5 and refused["status"] == 403
    code, theirs = run(services, api.client().token, "deletions")
    assert code == 0 and theirs == []


def test_the_operator_deletes_a_client_organisation(services: ServiceSet, api: Api) -> None:
    ws = workspace(api, images=1)
    code, refused = run(services, api.operator, "delete", "org", ws.vendor_id)
    assert code == 5 and refused["error_code"] == "not_a_client"
    code, done = run(
        services, api.operator, "delete", "org", ws.client.org_id, "--wait", "--timeout", "60"
    )
    assert code == 0, done
    assert done["status"] == "complete" and done["org_id"] == ws.client.org_id
    assert done["certificate"]["services"]["ingest"]["records"]["orgs"] == 1
    code, listed = run(services, api.operator, "deletions")
    assert code == 0 and done["id"] in {d["id"] for d in listed}
