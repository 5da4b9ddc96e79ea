"""The delivery API: list, read (presigned download), request on demand, webhook log, resend."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status
from fastapi.responses import RedirectResponse

from aviary.contracts.export import DeliveryRead, DeliveryRequest, WebhookRead
from services.export.deps import BatchesDep, BuilderDep, DeliveriesDep, ProjectsDep, WebhooksDep
from services.export.domain import check_formats, delivery_options
from shared.errors import AppError
from shared.runtime import Runtime
from shared.security.audit import AuditDep
from shared.security.auth import Principal, Role, org_scope, require_roles
from shared.store.mongo import Doc
from shared.web.deps import RuntimeDep

router = APIRouter(prefix="/v1", tags=["deliveries"])

ClientOrOperator = Annotated[Principal, require_roles(Role.CLIENT, Role.OPERATOR)]
Client = Annotated[Principal, require_roles(Role.CLIENT)]


def delivery_read(doc: Doc, runtime: Runtime | None = None) -> DeliveryRead:
    fields = {
        k: doc.get(k)
        for k in (
            "kind",
            "project_id",
            "batch_id",
            "status",
            "options",
            "created_at",
            "ready_at",
            "images",
            "annotations",
            "sha256",
            "size_bytes",
        )
    }
    read = DeliveryRead(id=doc["_id"], package_removed_at=doc.get("packages_removed_at"), **fields)
    if runtime is not None and doc["status"] == "ready" and read.package_removed_at is None:
        ttl = runtime.settings.presign_ttl_s
        read.download_url = runtime.storage.presigned_get(doc["bucket"], doc["object_key"], ttl)
        read.download_expires_in_s = ttl
    return read


def webhook_read(doc: Doc) -> WebhookRead:
    pending = doc["status"] == "pending"
    return WebhookRead(
        id=doc["_id"],
        delivery_id=doc["delivery_id"],
        url=doc["url"],
        status=doc["status"],
        next_attempt_at=doc["next_attempt_at"] if pending else None,
        attempts=doc["attempts"],
        created_at=doc["created_at"],
    )


@router.get("/deliveries", response_model=list[DeliveryRead])
async def list_deliveries(
    principal: ClientOrOperator,
    deliveries: DeliveriesDep,
    project_id: Annotated[str | None, Query(max_length=100)] = None,
) -> list[DeliveryRead]:
    docs = await deliveries.of_org(org_scope(principal), project_id)
    return [delivery_read(d) for d in docs]


@router.get("/deliveries/{delivery_id}", response_model=DeliveryRead)
async def get_delivery(
    delivery_id: str,
    principal: ClientOrOperator,
    deliveries: DeliveriesDep,
    audit: AuditDep,
    runtime: RuntimeDep,
) -> DeliveryRead:
    """A delivery; once ready, with a presigned download URL that expires."""
    doc = await deliveries.get(org_scope(principal), delivery_id)
    read = delivery_read(doc, runtime)
    if read.download_url is not None:
        await audit.record(None, "delivery.link_issued", delivery_id, orgs=[doc["org_id"]])
    return read


@router.get(
    "/deliveries/{delivery_id}/download",
    status_code=status.HTTP_307_TEMPORARY_REDIRECT,
    response_class=RedirectResponse,
    responses={
        409: {"description": "the delivery is not ready yet"},
        410: {"description": "the project's retention removed the package"},
    },
)
async def download_delivery(
    delivery_id: str,
    principal: ClientOrOperator,
    deliveries: DeliveriesDep,
    audit: AuditDep,
    runtime: RuntimeDep,
) -> RedirectResponse:
    """Download the package: recorded in the audit log, then redirected to storage."""
    doc = await deliveries.get(org_scope(principal), delivery_id)
    read = delivery_read(doc, runtime)
    if read.package_removed_at is not None:
        raise AppError(
            "package_removed",
            "the project's retention removed this package; ask for a new delivery",
            status_code=410,
        )
    if read.download_url is None:
        raise AppError("not_ready", "the delivery is not ready yet", status_code=409)
    await audit.record(None, "delivery.downloaded", delivery_id, orgs=[doc["org_id"]])
    return RedirectResponse(read.download_url, status_code=status.HTTP_307_TEMPORARY_REDIRECT)


@router.post(
    "/batches/{batch_id}/deliveries",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryRead,
)
async def request_delivery(
    batch_id: str,
    principal: Client,
    batches: BatchesDep,
    projects: ProjectsDep,
    deliveries: DeliveriesDep,
    audit: AuditDep,
    builder: BuilderDep,
    body: DeliveryRequest | None = None,
) -> DeliveryRead:
    """Package what is accepted so far (`partial`) or only what is new (`incremental`)."""
    body = body or DeliveryRequest()
    batch = await batches.get(principal.org, batch_id)
    project = await projects.get(batch["project_id"])
    if project is None:
        raise AppError(
            "not_ready", "the project has not reached export yet; retry shortly", status_code=409
        )
    check_formats(project, body.formats)
    overrides = body.model_dump(exclude_none=True, include={"formats", "include_images"})
    doc = await deliveries.request(batch, body.kind, delivery_options(project, overrides))
    await audit.record(None, "delivery.requested", doc["_id"], details={"kind": body.kind})
    builder.notify()
    return delivery_read(doc)


@router.get("/deliveries/{delivery_id}/webhooks", response_model=list[WebhookRead])
async def list_webhooks(
    delivery_id: str, principal: ClientOrOperator, deliveries: DeliveriesDep, webhooks: WebhooksDep
) -> list[WebhookRead]:
    """Every webhook sent for a delivery, with each attempt and its outcome."""
    await deliveries.get(org_scope(principal), delivery_id)
    return [webhook_read(d) for d in await webhooks.of_delivery(delivery_id)]


@router.post(
    "/deliveries/{delivery_id}/webhooks",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=WebhookRead,
)
async def resend_webhook(
    delivery_id: str,
    principal: Client,
    deliveries: DeliveriesDep,
    projects: ProjectsDep,
    webhooks: WebhooksDep,
) -> WebhookRead:
    """Send the `delivery.ready` webhook again (to the project's current URL)."""
    delivery = await deliveries.get(principal.org, delivery_id)
    if delivery["status"] != "ready":
        raise AppError("not_ready", "the delivery is not ready yet", status_code=409)
    project = await projects.get(delivery["project_id"])
    if project is None or not project.webhook_url:
        raise AppError("no_webhook", "the project has no webhook URL", status_code=409)
    return webhook_read(await webhooks.add(delivery, project.webhook_url))
