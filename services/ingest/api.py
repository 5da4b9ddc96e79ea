"""Ingest's HTTP handlers: parse, check who may, call a repository, return a schema."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from aviary.contracts.ingest import (
    BatchCreate,
    BatchProgress,
    BatchRead,
    MeRead,
    OrgCreate,
    OrgRead,
    ProjectCreate,
    ProjectRead,
    ProjectUpdate,
    ProjectVersionRead,
    TokenCreate,
    TokenInfo,
    TokenRead,
    VendorRead,
)
from services.ingest import domain
from services.ingest.deps import BatchesDep, LedgerDep, OrgsDep, ProjectsDep, TokensDep
from services.ingest.project_versions import version_changes
from services.ingest.redaction import check_detector
from services.ingest.repositories import BatchRepository, OrgRepository
from shared.errors import AppError, Conflict
from shared.security.auth import (
    VENDOR_ROLES,
    CurrentPrincipal,
    Principal,
    Role,
    new_claims,
    org_scope,
    require_roles,
    sign_claims,
)
from shared.settings import Settings
from shared.store.mongo import Doc
from shared.web.deps import RuntimeDep

router = APIRouter(prefix="/v1")

MAX_FILES_PER_REQUEST = 500


Operator = Annotated[Principal, require_roles(Role.OPERATOR)]
Client = Annotated[Principal, require_roles(Role.CLIENT)]
ClientOrOperator = Annotated[Principal, require_roles(Role.CLIENT, Role.OPERATOR)]


# ----- organisations and tokens --------------------------------------------------------------


@router.post("/orgs", status_code=status.HTTP_201_CREATED, response_model=OrgRead)
async def create_org(body: OrgCreate, principal: Operator, orgs: OrgsDep) -> OrgRead:
    doc = await orgs.create(body.name, body.kind, principal)
    return OrgRead(id=doc["_id"], **{k: doc[k] for k in ("name", "kind", "created_at")})


@router.get("/orgs", response_model=list[OrgRead])
async def list_orgs(_: Operator, orgs: OrgsDep) -> list[OrgRead]:
    return [
        OrgRead(id=d["_id"], **{k: d[k] for k in ("name", "kind", "created_at")})
        for d in await orgs.all()
    ]


@router.get("/me", response_model=MeRead)
async def who_am_i(principal: CurrentPrincipal, orgs: OrgsDep) -> MeRead:
    """The caller's own organisation and vendor by name, for the pages' headers."""
    names = await orgs.names({principal.org, *([principal.vendor] if principal.vendor else [])})
    return MeRead(
        subject=principal.sub,
        role=principal.role,
        org_id=principal.org,
        org_name=names.get(principal.org),
        vendor_id=principal.vendor,
        vendor_name=names.get(principal.vendor) if principal.vendor else None,
    )


@router.get("/vendors", response_model=list[VendorRead])
async def list_vendors(_: ClientOrOperator, orgs: OrgsDep) -> list[VendorRead]:
    """The vendors a client may name in its projects, by name (their people stay theirs)."""
    return [VendorRead(id=d["_id"], name=d["name"]) for d in await orgs.vendors()]


@router.post("/tokens", status_code=status.HTTP_201_CREATED, response_model=TokenRead)
async def create_token(
    body: TokenCreate,
    principal: CurrentPrincipal,
    orgs: OrgsDep,
    tokens: TokensDep,
    runtime: RuntimeDep,
) -> TokenRead:
    """The operator issues any token; a vendor admin issues its own vendor's people."""
    if principal.role == Role.VENDOR_ADMIN:
        if body.org_id != principal.org or body.role not in (Role.ANNOTATOR, Role.REVIEWER):
            raise AppError(
                "forbidden",
                "vendor admins issue tokens for their own annotators and reviewers only",
                status_code=403,
            )
    elif principal.role != Role.OPERATOR:
        raise AppError(
            "forbidden", "only operators and vendor admins issue tokens", status_code=403
        )
    if body.role == Role.OPERATOR:
        raise AppError("forbidden", "operator tokens are not issued over the API", status_code=403)
    org = await orgs.get(body.org_id)
    expected_kind = "vendor" if body.role in VENDOR_ROLES else "client"
    if body.role == Role.REVIEWER:
        expected_kind = org["kind"]  # a client may have reviewers of its own
    if org["kind"] != expected_kind:
        raise AppError(
            "role_mismatch",
            f"role {body.role.value} needs a {expected_kind} organisation",
            status_code=422,
        )
    vendor = org["_id"] if expected_kind == "vendor" else None
    claims = new_claims(
        sub=body.subject, org=org["_id"], role=body.role, vendor=vendor, ttl_s=body.ttl_s
    )
    record = await tokens.record(claims, principal)
    return TokenRead(
        token=sign_claims(runtime.settings, claims),
        **token_info(record).model_dump(),
        expires_in_s=body.ttl_s,
    )


def token_info(doc: Doc) -> TokenInfo:
    return TokenInfo(id=doc["_id"], **{k: doc[k] for k in TokenInfo.model_fields if k != "id"})


TokenAdmin = Annotated[Principal, require_roles(Role.OPERATOR, Role.CLIENT, Role.VENDOR_ADMIN)]


@router.get("/tokens", response_model=list[TokenInfo])
async def list_tokens(
    principal: TokenAdmin,
    tokens: TokensDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[TokenInfo]:
    """Tokens issued for the caller's organisation (all of them for the operator), newest
    first; their values are never stored, so never shown again."""
    return [token_info(d) for d in await tokens.newest(org_scope(principal), limit)]


@router.delete("/tokens/{token_id}", response_model=TokenInfo)
async def revoke_token(token_id: str, principal: TokenAdmin, tokens: TokensDep) -> TokenInfo:
    """Revoke a token at once everywhere: every service refuses it within seconds. A client
    revokes its own organisation's tokens; a vendor admin its annotators' and reviewers'."""
    token = await tokens.get(org_scope(principal), token_id)
    if principal.role == Role.VENDOR_ADMIN and token["role"] not in ("annotator", "reviewer"):
        raise AppError(
            "forbidden",
            "vendor admins revoke their own annotators' and reviewers' tokens only",
            status_code=403,
        )
    return token_info(await tokens.revoke(token, principal))


# ----- projects --------------------------------------------------------------------------------


def project_read(doc: Doc) -> ProjectRead:
    fields = {k: v for k, v in doc.items() if k not in ("_id", "webhook_secret")}
    if (endpoint := fields.get("assist", {}).get("endpoint")) is not None:
        # The endpoint's secret is write-only, as the webhook's is.
        fields["assist"] = {**fields["assist"], "endpoint": {**endpoint, "secret": None}}
    return ProjectRead(id=doc["_id"], webhook_secret_set=bool(doc.get("webhook_secret")), **fields)


def endpoint_secret(body: ProjectCreate, settings: Settings, current: Doc | None) -> str | None:
    """The secret a client's model endpoint is called with: the one sent, else the current
    one. Its URL is checked as a webhook's is (an inward address is refused)."""
    endpoint = body.assist.endpoint
    if endpoint is None:
        return None
    domain.refuse_unsafe_urls([str(endpoint.url)], settings.webhook_allowed_networks)
    kept = ((current or {}).get("assist") or {}).get("endpoint") or {}
    secret = endpoint.secret or kept.get("secret")
    if secret is None:
        raise AppError(
            "endpoint_secret_required",
            "a model endpoint needs a secret (16+ characters) to sign requests with",
            status_code=422,
        )
    return secret


def project_fields(
    body: ProjectCreate, settings: Settings, current: Doc | None = None
) -> dict[str, Any]:
    """Checked, storable project settings; the webhook's and the model endpoint's secrets
    stay if not given again."""
    domain.check_ontology([(c.id, c.name) for c in body.ontology.classes])
    domain.check_class_geometry(body.ontology.classes)
    domain.check_vendor_shares([(v.vendor_id, v.share) for v in body.vendors])
    domain.check_media(body.media, body.ontology.classes, body.delivery_formats)
    check_detector(body.privacy.redaction, settings)
    current_secret = current.get("webhook_secret") if current else None
    secret = body.webhook_secret.get_secret_value() if body.webhook_secret else current_secret
    if body.webhook_url is not None:
        domain.refuse_unsafe_urls([str(body.webhook_url)], settings.webhook_allowed_networks)
    if body.webhook_url is not None and secret is None:
        raise AppError(
            "webhook_secret_required",
            "a webhook_url needs a webhook_secret (16+ characters) to sign deliveries with",
            status_code=422,
        )
    fields = body.model_dump(mode="json", exclude={"webhook_secret", "delivery_formats"})
    fields["delivery_formats"] = sorted(set(body.delivery_formats))
    fields["webhook_secret"] = secret
    if fields["assist"]["endpoint"] is not None:
        fields["assist"]["endpoint"]["secret"] = endpoint_secret(body, settings, current)
    return fields


@router.post("/projects", status_code=status.HTTP_201_CREATED, response_model=ProjectRead)
async def create_project(
    body: ProjectCreate,
    principal: Client,
    orgs: OrgsDep,
    projects: ProjectsDep,
    runtime: RuntimeDep,
) -> ProjectRead:
    fields = project_fields(body, runtime.settings)
    fields["vendor_names"] = await vendor_names(orgs, fields)
    return project_read(await projects.create(principal.org, fields, principal))


async def vendor_names(orgs: OrgRepository, fields: dict[str, Any]) -> dict[str, str]:
    """The project's vendors by name (pages show names), or 422 when one is not a vendor."""
    names = await orgs.vendor_names([v["vendor_id"] for v in fields["vendors"]])
    if names is None:
        raise AppError(
            "unknown_vendor", "every vendor must be a registered vendor", status_code=422
        )
    return names


@router.put("/projects/{project_id}", response_model=ProjectRead)
async def update_project(
    project_id: str,
    body: ProjectUpdate,
    principal: Client,
    orgs: OrgsDep,
    projects: ProjectsDep,
    runtime: RuntimeDep,
) -> ProjectRead:
    """Publish a new version; work already dispatched keeps the version it was made with."""
    current = await projects.get(principal.org, project_id)
    if body.media != current.get("media", "image"):
        raise Conflict(
            "media_change",
            f"the project labels {current.get('media', 'image')}s; make a new project for "
            f"{body.media}s",
        )
    fields = project_fields(body, runtime.settings, current)
    fields["vendor_names"] = await vendor_names(orgs, fields)
    return project_read(await projects.update(current, fields, principal))


@router.get("/projects", response_model=list[ProjectRead])
async def list_projects(principal: ClientOrOperator, projects: ProjectsDep) -> list[ProjectRead]:
    return [project_read(d) for d in await projects.of_org(org_scope(principal))]


@router.get("/projects/{project_id}", response_model=ProjectRead)
async def get_project(
    project_id: str, principal: ClientOrOperator, projects: ProjectsDep
) -> ProjectRead:
    return project_read(await projects.get(org_scope(principal), project_id))


# ----- batches ---------------------------------------------------------------------------------


async def batch_read(batches: BatchRepository, doc: Doc) -> BatchRead:
    counts = await batches.progress(doc["_id"])
    received = doc["item_count"] if doc["item_count"] is not None else counts["received"]
    submitted, dropped_submitted = counts["submitted"], counts["dropped_submitted"]
    return BatchRead(
        id=doc["_id"],
        project_id=doc["project_id"],
        org_id=doc["org_id"],
        name=doc["name"],
        status=doc["status"],
        item_count=received,
        created_at=doc["created_at"],
        sealed_at=doc.get("sealed_at"),
        progress=BatchProgress(
            received=received,
            # A dropped item left labeling, or review when it had been submitted.
            in_labeling=max(0, received - submitted - counts["dropped"] + dropped_submitted),
            in_review=max(0, submitted - counts["accepted"] - dropped_submitted),
            accepted=counts["accepted"],
            dropped=counts["dropped"],
            delivered=doc.get("delivered", False),
            deliveries=doc.get("deliveries", 0),
        ),
    )


@router.post(
    "/projects/{project_id}/batches", status_code=status.HTTP_201_CREATED, response_model=BatchRead
)
async def create_batch(
    project_id: str,
    body: BatchCreate,
    principal: Client,
    projects: ProjectsDep,
    batches: BatchesDep,
) -> BatchRead:
    project = await projects.get(principal.org, project_id)
    return await batch_read(batches, await batches.create(project, body.name))


@router.get("/projects/{project_id}/versions", response_model=list[ProjectVersionRead])
async def project_versions(
    project_id: str, principal: ClientOrOperator, projects: ProjectsDep
) -> list[ProjectVersionRead]:
    """Every version kept, newest first, each with what changed from the one before (a
    project made before versions were kept starts at the first version saved since)."""
    await projects.get(org_scope(principal), project_id)
    kept = await projects.versions_of(project_id)
    read = [
        ProjectVersionRead(
            version=v["version"],
            saved_at=v["saved_at"],
            saved_by=v["saved_by"],
            name=v["settings"]["name"],
            changes=version_changes(before["settings"], v["settings"]) if before else ["created"],
        )
        for before, v in zip([None, *kept], kept, strict=False)
    ]
    return read[::-1]


@router.get("/projects/{project_id}/batches", response_model=list[BatchRead])
async def list_batches(
    project_id: str, principal: ClientOrOperator, projects: ProjectsDep, batches: BatchesDep
) -> list[BatchRead]:
    project = await projects.get(org_scope(principal), project_id)
    return [await batch_read(batches, b) for b in await batches.of_project(project["_id"])]


@router.get("/batches/{batch_id}", response_model=BatchRead)
async def get_batch(batch_id: str, principal: ClientOrOperator, batches: BatchesDep) -> BatchRead:
    return await batch_read(batches, await batches.get(org_scope(principal), batch_id))


@router.post("/batches/{batch_id}/seal", response_model=BatchRead)
async def seal_batch(
    batch_id: str, principal: Client, batches: BatchesDep, ledger: LedgerDep
) -> BatchRead:
    """Close the batch to uploads; `batch.sealed` carries its final item count."""
    batch = await batches.get(principal.org, batch_id)
    return await batch_read(batches, await ledger.seal(batch))
