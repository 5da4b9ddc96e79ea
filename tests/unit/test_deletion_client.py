"""Deletion on the client side, against a scripted transport: the certificate's digest checked
as the services write it, `wait_for_deletion` and its timeout, and `aviary delete`'s
arguments, waiting, certificate file and exit codes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from aviary.cli import app, json_first
from aviary.cli.common import Context
from aviary.client import AsyncClient, Client, DeletionTimeout, verify_certificate
from aviary.client.config import Endpoints
from aviary.contracts.ingest import DeletionCertificate
from services.ingest.deletions import SERVICES, certificate, certificate_digest

AT = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def made_certificate() -> dict[str, Any]:
    """A certificate as ingest writes it, every service having reported."""
    record = {
        "_id": "del_1",
        "scope": "batch",
        "target_id": "bat_1",
        "org_id": "org_1",
        "requested_by": "integration",
        "requested_at": AT,
        "services": {
            name: {
                "records": {"items": 2} if name == "ingest" else {"tasks": 1},
                "objects": {"ns-images": 2} if name == "ingest" else {},
                "objects_sha256": "ab" * 32,
                "content_sha256": ["cd" * 32] if name == "ingest" else [],
                "applied_at": AT,
            }
            for name in SERVICES
        },
    }
    # Through JSON, as the API answers it.
    return dict(json.loads(json.dumps(certificate(record, AT))))


def deletion(status: str, cert: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "id": "del_1",
        "scope": "batch",
        "target_id": "bat_1",
        "org_id": "org_1",
        "status": status,
        "requested_by": "integration",
        "requested_at": AT.isoformat(),
        "services_done": sorted(SERVICES) if cert else ["ingest"],
        "certificate": cert,
    }


def scripted(answers: list[Any], seen: list[httpx.Request]) -> httpx.MockTransport:
    """Each request answered by the next of `answers` (the last one again once they run out)."""

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = answers.pop(0) if len(answers) > 1 else answers[0]
        return httpx.Response(202 if request.method == "DELETE" else 200, json=body)

    return httpx.MockTransport(handle)


# ----- the certificate -------------------------------------------------------------------------


def test_a_certificate_verifies_as_the_services_digest_it() -> None:
    cert = made_certificate()
    assert certificate_digest(cert) == cert["digest"]
    assert verify_certificate(cert)
    assert verify_certificate(DeletionCertificate.model_validate(cert))


@pytest.mark.parametrize(
    "change",
    [
        lambda c: c.update(records_removed=c["records_removed"] - 1),
        lambda c: c["services"]["ingest"]["records"].update(items=1),
        lambda c: c["content_sha256"].pop(),
        lambda c: c.update(digest="0" * 64),
        lambda c: c.pop("digest"),
        lambda c: c.update(digest=None),
    ],
)
def test_a_changed_certificate_does_not_verify(change: Any) -> None:
    cert = made_certificate()
    change(cert)
    assert not verify_certificate(cert)


# ----- the SDK ---------------------------------------------------------------------------------


async def test_wait_for_deletion_asks_until_complete() -> None:
    seen: list[httpx.Request] = []
    cert = made_certificate()
    transport = scripted(
        [deletion("pending"), deletion("pending"), deletion("complete", cert)], seen
    )
    async with AsyncClient("t", Endpoints(), transport=transport) as client:
        done = await client.wait_for_deletion("del_1", timeout_s=5, poll_s=0.01)
    assert done.status == "complete" and done.certificate is not None
    assert verify_certificate(done.certificate)
    assert [r.url.path for r in seen] == ["/v1/deletions/del_1"] * 3


async def test_wait_for_deletion_gives_up_with_a_timeout_that_says_how_it_stands() -> None:
    transport = scripted([deletion("pending")], [])
    async with AsyncClient("t", Endpoints(), transport=transport) as client:
        with pytest.raises(DeletionTimeout) as raised:
            await client.wait_for_deletion("del_1", timeout_s=0.05, poll_s=0.01)
    assert isinstance(raised.value, TimeoutError)
    assert raised.value.deletion.status == "pending"
    assert "deletion del_1 of batch bat_1 is still pending after 0.05 s" in str(raised.value)
    assert "services done: ingest" in str(raised.value)


def test_the_blocking_client_deletes_and_lists_the_same_way() -> None:
    seen: list[httpx.Request] = []
    answers: list[Any] = [deletion("pending"), [deletion("pending")]]
    transport = scripted(answers, seen)
    with Client("t", Endpoints(), transport=transport) as client:
        asked = client.delete_project("prj_1")
        listed = client.deletions(limit=5)
    assert asked.id == "del_1" and [d.id for d in listed] == ["del_1"]
    assert [(r.method, r.url.path) for r in seen] == [
        ("DELETE", "/v1/projects/prj_1"),
        ("GET", "/v1/deletions"),
    ]
    assert seen[0].headers["idempotency-key"] and seen[1].url.params["limit"] == "5"


# ----- the command line ------------------------------------------------------------------------


@dataclass
class Script:
    """What the API answers `aviary` (in turn, the last one again), and what it was asked."""

    answers: list[Any] = field(default_factory=list)
    seen: list[httpx.Request] = field(default_factory=list)


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Script:
    script = Script()

    def client(self: Context) -> AsyncClient:
        transport = scripted(script.answers, script.seen)
        return AsyncClient("t", self.endpoints, transport=transport, retries=0)

    monkeypatch.setattr(Context, "client", client)
    return script


def aviary(*args: str) -> tuple[int, Any]:
    result = CliRunner().invoke(app, json_first(["--token=t", *args, "--json"]))
    try:
        return result.exit_code, json.loads(result.stdout)
    except ValueError:
        return result.exit_code, result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["delete", "widget", "x"],  # no such scope
        ["delete", "batch"],  # no id
        ["delete", "batch", "bat_1", "--timeout", "0"],
        ["delete", "batch", "bat_1", "--certificate"],
        ["deletions", "--limit", "0"],
        ["deletions", "--limit", "501"],
    ],
)
def test_bad_arguments_are_a_usage_error_and_ask_nothing(args: list[str], api: Script) -> None:
    code, _ = aviary(*args)
    assert code == 2 and api.seen == []


def test_a_certificate_with_nowhere_to_go_stops_before_anything_is_deleted(
    api: Script, tmp_path: Path
) -> None:
    code, out = aviary("delete", "batch", "bat_1", "--certificate", str(tmp_path / "no" / "c.json"))
    assert code == 2 and "no folder" in out["error"] and api.seen == []


def test_without_wait_the_deletion_comes_back_pending(api: Script) -> None:
    api.answers.append(deletion("pending"))
    code, out = aviary("delete", "item", "itm_1")
    assert code == 0 and out["status"] == "pending"
    assert [(r.method, r.url.path) for r in api.seen] == [("DELETE", "/v1/items/itm_1")]


def test_the_certificate_is_written_once_complete_and_verified(api: Script, tmp_path: Path) -> None:
    cert = made_certificate()
    api.answers += [deletion("pending"), deletion("complete", cert)]
    path = tmp_path / "certificate.json"
    code, out = aviary("delete", "batch", "bat_1", "--certificate", str(path))
    assert code == 0, out
    assert out["status"] == "complete" and out["certificate_file"] == str(path)
    assert [(r.method, r.url.path) for r in api.seen] == [
        ("DELETE", "/v1/batches/bat_1"),
        ("GET", "/v1/deletions/del_1"),
    ]
    written = json.loads(path.read_text())
    assert written == cert and verify_certificate(written)


def test_a_certificate_that_does_not_match_its_digest_is_not_written(
    api: Script, tmp_path: Path
) -> None:
    cert = made_certificate()
    cert["objects_removed"] += 1
    api.answers.append(deletion("complete", cert))
    path = tmp_path / "certificate.json"
    code, out = aviary("delete", "project", "prj_1", "--certificate", str(path))
    assert code == 4 and "does not match its digest" in out["error"]
    assert not path.exists()


def test_waiting_too_long_fails_and_says_the_deletion_goes_on(api: Script) -> None:
    api.answers.append(deletion("pending"))
    code, out = aviary("delete", "batch", "bat_1", "--wait", "--timeout", "1")
    assert code == 1 and "still pending after 1 s" in out["error"]
    assert out["deletion"]["id"] == "del_1"


def test_a_refusal_is_an_api_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        error = {"code": "not_a_client", "message": "only a client organisation's data"}
        return httpx.Response(422, json={"error": error})

    def client(self: Context) -> AsyncClient:
        return AsyncClient("t", self.endpoints, transport=httpx.MockTransport(refuse))

    monkeypatch.setattr(Context, "client", client)
    code, out = aviary("delete", "org", "org_vendor")
    assert code == 5 and out["status"] == 422 and out["error_code"] == "not_a_client"


def test_deletions_are_listed(api: Script) -> None:
    api.answers.append([deletion("complete", made_certificate())])
    code, out = aviary("deletions")
    assert code == 0 and [d["id"] for d in out] == ["del_1"]
    result = CliRunner().invoke(app, ["--token=t", "deletions"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "del_1" in result.stdout and "complete" in result.stdout
