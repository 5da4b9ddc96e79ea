"""Who may call what: every route of every service against every kind of caller.

The routes come from each service's own OpenAPI schema, so a route added without an entry in
ACCESS fails here. For each route and caller: no, forged, expired or revoked credentials get
401; a role the route is not for gets 403; a role it is for gets neither, and another tenant's
ids get 404 (nothing leaks, not even existence). Then: revocation reaches every service, the
audit log shows who did what to each tenant, and no secret ever reaches a log.
"""

from __future__ import annotations

import importlib
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import SecretStr

from aviary_devkit.processes import ServiceSet
from shared.runtime import Runtime
from shared.security.auth import Role, issue_token
from shared.settings import Settings
from tests.support import Api, Workspace, workspace

SERVICES = ("ingest", "dispatch", "review", "export", "assist")
OP, C, VA, A, R = "operator", "client", "vendor_admin", "annotator", "reviewer"
AUDITORS = {OP, C, VA}

# (service, method, path) -> the roles the route is for.
ACCESS: dict[tuple[str, str, str], set[str]] = {
    ("ingest", "GET", "/v1/audit"): AUDITORS,
    ("ingest", "GET", "/v1/rollups"): {OP},
    ("ingest", "GET", "/v1/orgs"): {OP},
    ("ingest", "POST", "/v1/orgs"): {OP},
    ("ingest", "GET", "/v1/vendors"): {OP, C},
    ("ingest", "GET", "/v1/me"): {OP, C, VA, A, R},
    ("ingest", "GET", "/v1/projects/{project_id}/versions"): {OP, C},
    ("ingest", "GET", "/v1/batches/{batch_id}/burnup"): {OP, C},
    ("ingest", "POST", "/v1/tokens"): {OP, VA},
    ("ingest", "GET", "/v1/tokens"): {OP, C, VA},
    ("ingest", "DELETE", "/v1/tokens/{token_id}"): {OP, C, VA},
    ("ingest", "GET", "/v1/projects"): {OP, C},
    ("ingest", "POST", "/v1/projects"): {C},
    ("ingest", "PUT", "/v1/projects/{project_id}"): {C},
    ("ingest", "GET", "/v1/projects/{project_id}"): {OP, C},
    ("ingest", "DELETE", "/v1/projects/{project_id}"): {OP, C},
    ("ingest", "DELETE", "/v1/batches/{batch_id}"): {OP, C},
    ("ingest", "DELETE", "/v1/items/{item_id}"): {OP, C},
    ("ingest", "DELETE", "/v1/orgs/{org_id}"): {OP},
    ("ingest", "GET", "/v1/deletions"): {OP, C},
    ("ingest", "GET", "/v1/deletions/{deletion_id}"): {OP, C},
    ("ingest", "POST", "/v1/projects/{project_id}/batches"): {C},
    ("ingest", "GET", "/v1/projects/{project_id}/batches"): {OP, C},
    ("ingest", "GET", "/v1/batches/{batch_id}"): {OP, C},
    ("ingest", "POST", "/v1/batches/{batch_id}/seal"): {C},
    ("ingest", "POST", "/v1/batches/{batch_id}/items"): {C},
    ("ingest", "POST", "/v1/projects/{project_id}/imports/check"): {OP, C},
    ("ingest", "POST", "/v1/batches/{batch_id}/imports/annotations"): {OP, C},
    ("ingest", "POST", "/v1/batches/{batch_id}/videos"): {C},
    ("ingest", "POST", "/v1/batches/{batch_id}/recordings"): {C},
    ("ingest", "PUT", "/v1/batches/{batch_id}/sequences/{sequence_id}/frames/{index}"): {C},
    ("ingest", "GET", "/v1/batches/{batch_id}/sequences/{sequence_id}"): {C},
    ("ingest", "POST", "/v1/batches/{batch_id}/sequences/{sequence_id}/close"): {C},
    ("ingest", "GET", "/v1/batches/{batch_id}/items"): {OP, C},
    ("ingest", "GET", "/v1/items/{item_id}"): {OP, C},
    ("ingest", "GET", "/v1/items/{item_id}/preview"): {OP, C},
    ("ingest", "POST", "/v1/batches/{batch_id}/uploads"): {C},
    ("ingest", "POST", "/v1/uploads/{upload_id}/confirm"): {C},
    ("ingest", "POST", "/v1/batches/{batch_id}/imports"): {C},
    ("ingest", "GET", "/v1/imports/{import_id}"): {OP, C},
    ("dispatch", "GET", "/v1/audit"): AUDITORS,
    ("dispatch", "GET", "/v1/rollups"): {OP},
    ("dispatch", "POST", "/v1/tasks/next"): {A},
    ("dispatch", "POST", "/v1/tasks/{task_id}/heartbeat"): {A},
    ("dispatch", "POST", "/v1/tasks/{task_id}/release"): {A},
    ("dispatch", "POST", "/v1/tasks/{task_id}/skip"): {A},
    ("dispatch", "POST", "/v1/tasks/{task_id}/submit"): {A},
    ("dispatch", "GET", "/v1/me/work"): {A},
    ("dispatch", "GET", "/v1/vendors/{vendor_id}/work-limits"): {OP, VA},
    ("dispatch", "PUT", "/v1/vendors/{vendor_id}/work-limits/groups/{group}"): {OP, VA},
    ("dispatch", "PUT", "/v1/vendors/{vendor_id}/work-limits/annotators/{annotator_id}"): {OP, VA},
    ("dispatch", "GET", "/v1/vendors/{vendor_id}/annotators/{annotator_id}/work"): {OP, VA},
    ("dispatch", "GET", "/v1/projects/{project_id}/task-stats"): {OP, C, VA},
    ("dispatch", "GET", "/v1/flagged-tasks"): {OP, C},
    ("ingest", "GET", "/v1/me/data"): {A, R},
    ("dispatch", "GET", "/v1/me/data"): {A, R},
    ("review", "GET", "/v1/me/data"): {A, R},
    ("export", "GET", "/v1/me/data"): {A, R},
    ("assist", "GET", "/v1/me/data"): {A, R},
    ("dispatch", "POST", "/v1/flagged-tasks/{task_id}/return"): {OP, C},
    ("dispatch", "POST", "/v1/flagged-tasks/{task_id}/drop"): {OP, C},
    ("review", "GET", "/v1/audit"): AUDITORS,
    ("review", "GET", "/v1/rollups"): {OP},
    ("review", "GET", "/v1/projects/{project_id}/assist-stats"): {OP, C, VA},
    ("review", "POST", "/v1/reviews/next"): {R},
    ("review", "GET", "/v1/reviews/{unit_id}"): {R},
    ("review", "POST", "/v1/reviews/{unit_id}/accept"): {R},
    ("review", "POST", "/v1/reviews/{unit_id}/reject"): {R},
    ("review", "POST", "/v1/reviews/{unit_id}/correct"): {R},
    ("review", "GET", "/v1/submissions/{submission_id}"): {A},
    ("review", "POST", "/v1/appeals"): {A},
    ("review", "POST", "/v1/appeals/next"): {R},
    ("review", "POST", "/v1/appeals/{submission_id}/decide"): {R},
    ("review", "GET", "/v1/scores"): {OP, C, VA, A, R},
    ("review", "GET", "/v1/vendors/{vendor_id}/annotators/{annotator_id}/statement"): {OP, VA, A},
    ("review", "PUT", "/v1/vendors/{vendor_id}/minimum-wage"): {OP, VA},
    ("review", "GET", "/v1/vendors/{vendor_id}/minimum-wage"): {OP, VA},
    ("review", "GET", "/v1/vendors/{vendor_id}/fair-work"): {OP, VA},
    ("dispatch", "GET", "/v1/vendors/{vendor_id}/work-days"): {OP, VA},
    ("review", "GET", "/v1/vendors/{vendor_id}/wage-alerts"): {OP, VA},
    ("review", "GET", "/v1/onboarding/me"): {A},
    ("review", "GET", "/v1/onboarding/projects"): {OP, C, VA},
    ("review", "GET", "/v1/projects/{project_id}/onboarding"): {OP, C, VA},
    ("review", "PUT", "/v1/projects/{project_id}/onboarding/{annotator_id}"): {VA},
    ("review", "GET", "/v1/feedback/{submission_id}"): {A},
    ("dispatch", "POST", "/v1/projects/{project_id}/onboarding/next"): {A},
    ("review", "POST", "/v1/projects/{project_id}/gold"): {OP, C, R},
    ("review", "GET", "/v1/projects/{project_id}/gold"): {OP, C, R},
    ("review", "DELETE", "/v1/projects/{project_id}/gold/{gold_id}"): {OP, C, R},
    ("review", "GET", "/v1/projects/{project_id}/gold/results"): {OP, C, R},
    ("review", "GET", "/v1/projects/{project_id}/gold/results/{submission_id}"): {OP, C, R},
    ("export", "GET", "/v1/audit"): AUDITORS,
    ("export", "GET", "/v1/rollups"): {OP},
    ("assist", "GET", "/v1/audit"): AUDITORS,
    ("assist", "GET", "/v1/rollups"): {OP},
    ("assist", "POST", "/v1/assist/segment"): {OP, C, A, R},
    ("assist", "POST", "/v1/assist/track"): {OP, C, A, R},
    ("assist", "POST", "/v1/models"): {OP},
    ("assist", "GET", "/v1/models"): {OP, C, VA, A, R},
    ("assist", "GET", "/v1/models/{name}"): {OP, C, VA, A, R},
    ("export", "GET", "/v1/deliveries"): {OP, C},
    ("export", "GET", "/v1/deliveries/{delivery_id}"): {OP, C},
    ("export", "GET", "/v1/deliveries/{delivery_id}/download"): {OP, C},
    ("export", "POST", "/v1/batches/{batch_id}/deliveries"): {C},
    ("export", "GET", "/v1/deliveries/{delivery_id}/webhooks"): {OP, C},
    ("export", "POST", "/v1/deliveries/{delivery_id}/webhooks"): {C},
}


def served_routes() -> set[tuple[str, str, str]]:
    """Every documented route of every service, from the apps themselves."""
    routes = set()
    for service in SERVICES:
        app = importlib.import_module(f"services.{service}.main").build_app(
            Runtime(service, Settings())
        )
        for path, operations in app.openapi()["paths"].items():
            routes |= {(service, method.upper(), path) for method in operations}
    return routes


def test_every_route_has_an_access_rule() -> None:
    assert served_routes() == set(ACCESS)


@dataclass
class Caller:
    name: str
    role: str
    token: str | None


@dataclass
class World:
    api: Api
    ws: Workspace  # tenant A: client A and vendor V
    callers: list[Caller]
    ids: dict[str, str]
    secrets: list[str]


@pytest.fixture(scope="module")
def world(services: ServiceSet) -> Iterator[World]:
    api = Api(services)
    ws = workspace(
        api,
        images=1,
        webhook_url="https://hooks.example.org/aviary",
        webhook_secret="whsec-" + "s3cr3t" * 4,
    )
    settings = services.settings
    item = api.ok("GET", "ingest", f"/v1/batches/{ws.batch_id}/items", ws.client.token)
    client_b = api.client()
    vendor_w = api.org("vendor")
    vendor_admin = api.token(ws.vendor_id, "vendor_admin", "boss")
    throwaway = api.ok(
        "POST",
        "ingest",
        "/v1/tokens",
        api.operator,
        json={"org_id": ws.vendor_id, "role": "annotator", "subject": "leaver"},
    )
    revoked = api.ok(
        "POST",
        "ingest",
        "/v1/tokens",
        api.operator,
        json={"org_id": ws.client.org_id, "role": "client", "subject": "leaked"},
    )
    api.ok("DELETE", "ingest", f"/v1/tokens/{revoked['id']}", api.operator)
    expired = issue_token(settings, sub="old", org=ws.client.org_id, role=Role.CLIENT, ttl_s=-5)
    forged = issue_token(
        settings.model_copy(update={"auth_secret": SecretStr("another-secret-for-hs256-" * 2)}),
        sub="mallory",
        org=ws.client.org_id,
        role=Role.CLIENT,
    )
    callers = [
        Caller("operator", OP, api.operator),
        Caller("client A", C, ws.client.token),
        Caller("client B", C, client_b.token),
        Caller("vendor admin V", VA, vendor_admin),
        Caller("vendor admin W", VA, api.token(vendor_w, "vendor_admin", "other-boss")),
        Caller("annotator V", A, ws.annotators[0]),
        Caller("reviewer V", R, ws.reviewer),
        Caller("no credentials", "none", None),
        Caller("expired", "none", expired),
        Caller("forged", "none", forged),
        Caller("revoked", "none", revoked["token"]),
    ]
    ids = {
        "project_id": ws.project["id"],
        "batch_id": ws.batch_id,
        "item_id": item["items"][0]["id"],
        "vendor_id": ws.vendor_id,
        "annotator_id": "ann-0",
        "token_id": throwaway["id"],
        "group": "intern",
        "sequence_id": "cam-1",
        "index": "0",
    }
    secrets = [
        api.operator,
        settings.auth_secret.get_secret_value(),
        settings.s3_secret_key.get_secret_value(),
        "whsec-" + "s3cr3t" * 4,
        *(c.token for c in callers if c.token),
        *ws.annotators,
    ]
    wait_until_refused(api, revoked["token"])
    yield World(api, ws, callers, ids, secrets)


def wait_until_refused(api: Api, token: str, timeout: float = 15) -> None:
    """Revocation reaches every service (the consumer at once, other replicas on re-read)."""
    deadline = time.monotonic() + timeout
    pending = set(SERVICES)
    while pending and time.monotonic() < deadline:
        pending = {s for s in pending if api.call("GET", s, "/v1/audit", token).status_code != 401}
        time.sleep(0.2)
    assert not pending, f"still accepted by {pending}"


OUTSIDERS = ("client B", "vendor admin W")

# Bodies that pass validation where a route checks roles inside (so 403 is not hidden by 422).
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/v1/tokens"): lambda w: {
        "org_id": w.ws.vendor_id,
        "role": "annotator",
        "subject": "matrix",
    },
}


def fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids.get(m.group(1), f"nonexistent-{m.group(1)}"), path)


def call(world: World, caller: Caller, service: str, method: str, path: str) -> int:
    body = BODIES.get((method, path))
    kwargs: dict[str, Any] = {"params": {"wait_s": 0}} if path.endswith("/next") else {}
    if method in ("POST", "PUT"):
        kwargs["json"] = body(world) if body else {}
    response = world.api.call(method, service, fill(path, world.ids), caller.token, **kwargs)
    return response.status_code


@pytest.mark.parametrize("route", sorted(ACCESS), ids=lambda r: f"{r[0]} {r[1]} {r[2]}")
def test_each_caller_gets_what_the_route_allows(world: World, route: tuple[str, str, str]) -> None:
    service, method, path = route
    allowed = ACCESS[route]
    answers = {c.name: call(world, c, service, method, path) for c in world.callers}
    wrong = {}
    for caller in world.callers:
        got = answers[caller.name]
        if caller.role == "none":
            ok = got == 401
        elif caller.role not in allowed:
            ok = got == 403
        elif caller.name in OUTSIDERS:  # their role fits, the ids are another tenant's
            ok = got in (403, 404, 422) or (got < 300 and "{" not in path)
        else:
            ok = got not in (401, 403) and got < 500
        if not ok:
            wrong[caller.name] = got
    assert not wrong, f"unexpected answers: {wrong} (all: {answers})"


TENANT_PATHS = [r for r in sorted(ACCESS) if "{" in r[2] and "{token_id}" not in r[2]]


@pytest.mark.parametrize("route", TENANT_PATHS, ids=lambda r: f"{r[0]} {r[1]} {r[2]}")
def test_another_tenant_gets_404_for_our_ids(world: World, route: tuple[str, str, str]) -> None:
    """Client B and vendor W, where their role may use the route, never see A's or V's data."""
    service, method, path = route
    outsiders = [c for c in world.callers if c.name in OUTSIDERS]
    for caller in outsiders:
        if caller.role not in ACCESS[route]:
            continue
        got = call(world, caller, service, method, path)
        # A write with an invalid body may be refused before the lookup: it still reveals nothing.
        assert got == 404 or (method != "GET" and got == 422), (caller.name, got)


def test_lists_show_only_the_callers_own_tenant(world: World) -> None:
    api, ws = world.api, world.ws
    client_b = next(c for c in world.callers if c.name == "client B")
    for service, path in (
        ("ingest", "/v1/projects"),
        ("ingest", "/v1/tokens"),
        ("ingest", "/v1/audit"),
        ("export", "/v1/deliveries"),
        ("review", "/v1/scores"),
    ):
        text = api.call("GET", service, path, client_b.token).text
        assert ws.client.org_id not in text and ws.project["id"] not in text, (service, path)


def test_revoked_token_is_refused_everywhere_within_seconds(world: World) -> None:
    api, ws = world.api, world.ws
    fresh = api.ok(
        "POST",
        "ingest",
        "/v1/tokens",
        api.operator,
        json={"org_id": ws.client.org_id, "role": "client", "subject": "rotating"},
    )
    for service in SERVICES:
        assert api.call("GET", service, "/v1/audit", fresh["token"]).status_code == 200
    # A client revokes its own organisation's key; another client cannot even see it.
    client_b = next(c for c in world.callers if c.name == "client B")
    path = f"/v1/tokens/{fresh['id']}"
    assert api.call("DELETE", "ingest", path, client_b.token).status_code == 404
    revoked = api.ok("DELETE", "ingest", path, ws.client.token)
    assert revoked["revoked_at"] is not None
    assert "token" not in revoked  # the value is shown once, at issue, never again
    started = time.monotonic()
    wait_until_refused(api, fresh["token"])
    assert time.monotonic() - started < 10
    again = api.ok("DELETE", "ingest", path, ws.client.token)  # twice is a no-op
    assert again["revoked_at"] == revoked["revoked_at"]


def test_audit_log_records_who_did_what_for_each_tenant(world: World) -> None:
    api, ws = world.api, world.ws
    entries = api.ok("GET", "ingest", "/v1/audit", ws.client.token, params={"limit": 1000})
    actions = {(e["action"], e["target"]) for e in entries}
    assert ("project.created", ws.project["id"]) in actions
    assert any(a == "token.issued" for a, _ in actions)
    assert any(a == "token.revoked" for a, _ in actions)
    assert all(ws.client.org_id in e["org_ids"] for e in entries)
    created = next(e for e in entries if e["action"] == "project.created")
    assert created["actor"] == {"sub": "integration", "org": ws.client.org_id, "role": "client"}
    # The operator sees every tenant; a filter by action narrows it.
    issued = api.ok("GET", "ingest", "/v1/audit", api.operator, params={"action": "org.created"})
    assert issued and all(e["action"] == "org.created" for e in issued)
    # Another tenant sees none of it.
    client_b = next(c for c in world.callers if c.name == "client B")
    theirs = api.ok("GET", "ingest", "/v1/audit", client_b.token, params={"limit": 1000})
    assert all(ws.client.org_id not in e["org_ids"] for e in theirs)
    # A vendor admin sees what concerns its vendor: the limit it set, in dispatch's log.
    boss = next(c for c in world.callers if c.name == "vendor admin V")
    path = f"/v1/vendors/{ws.vendor_id}/work-limits/groups/night"
    api.ok("PUT", "dispatch", path, boss.token, json={"daily_hours": 6})
    limits = api.ok("GET", "dispatch", "/v1/audit", boss.token, params={"action": "work_limit.set"})
    assert any(e["target"] == f"{ws.vendor_id}/group/night" for e in limits)
    outsider = next(c for c in world.callers if c.name == "vendor admin W")
    assert api.ok("GET", "dispatch", "/v1/audit", outsider.token) == []


def test_no_secret_ever_reaches_a_log(world: World) -> None:
    """Every credential used in this module, the platform's keys and a webhook secret: none
    appears in any service's log, whatever the calls above made them log."""
    logs = {p.name: p.read_text(errors="replace") for p in world.api.services.log_dir.glob("*.log")}
    assert logs, "the services wrote no logs"
    leaks = [(name, s[:12]) for name, text in logs.items() for s in world.secrets if s in text]
    assert not leaks
