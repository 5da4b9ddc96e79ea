"""Another tool's annotation file for a project: `POST /v1/projects/{id}/imports/check`, what
it would become (the mapping step; nothing kept), and `POST /v1/batches/{id}/imports/annotations`,
its shapes as proposals for the batch's items already uploaded, matched by file name."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request

from aviary.contracts.shapes import Ontology
from services.ingest.annotation_imports import (
    MAX_BYTES,
    imported_events,
    parse_mapping,
    read_and_map,
    sizes_of,
)
from services.ingest.deps import BatchesDep, ItemsDep, LedgerDep, ProjectsDep
from services.ingest.uploads import read_limited
from shared.security.auth import Principal, Role, org_scope, require_roles

router = APIRouter(prefix="/v1", tags=["imports"])

ClientOrOperator = Annotated[Principal, require_roles(Role.CLIENT, Role.OPERATOR)]


@router.post("/projects/{project_id}/imports/check")
async def check_import(
    project_id: str,
    request: Request,
    principal: ClientOrOperator,
    projects: ProjectsDep,
    format: Annotated[str, Query(max_length=20)],
    x_import_mapping: Annotated[str | None, Header(max_length=100_000)] = None,
) -> dict[str, Any]:
    """The body is the file (a zip of the folder for YOLO and VOC); `X-Import-Mapping` a JSON
    object of label -> class name, or null to leave a label out. The answer is the report:
    `ok`, per label its class and count, what was refused and why, what was left out."""
    project = await projects.get(org_scope(principal), project_id)
    data = await read_limited(request.stream(), MAX_BYTES)
    ontology = Ontology.model_validate(project["ontology"])
    mapping = parse_mapping(x_import_mapping)
    mapped = await read_and_map(format, data, ontology, mapping, keep=False)
    return mapped.report.as_dict()


@router.post("/batches/{batch_id}/imports/annotations", status_code=202)
async def import_annotations(
    batch_id: str,
    request: Request,
    principal: ClientOrOperator,
    batches: BatchesDep,
    projects: ProjectsDep,
    items: ItemsDep,
    ledger: LedgerDep,
    format: Annotated[str, Query(max_length=20)],
    kind: Annotated[Literal["prelabels", "gold"], Query(alias="as")] = "prelabels",
    x_import_mapping: Annotated[str | None, Header(max_length=100_000)] = None,
) -> dict[str, Any]:
    """The file's shapes become proposals (made by `import:<format>`) on the tasks of the
    batch's items that nobody has submitted yet, or, with `as=gold`, the items' known answers
    (review's gold, mixed into the work like any other). Every image of the file must be an
    item of the batch (by the file name it was uploaded under), or nothing is imported (422
    `import_refused`, with the report). The answer: the report and how many items matched;
    dispatch or review applies it in a moment (202)."""
    batch = await batches.get(org_scope(principal), batch_id)
    project = await projects.get(None, batch["project_id"])
    data = await read_limited(request.stream(), MAX_BYTES)
    ontology = Ontology.model_validate(project["ontology"])
    mapping = parse_mapping(x_import_mapping)
    gold = kind == "gold"
    named = await items.by_file_name(batch_id)
    sizes = sizes_of(named)
    mapped = await read_and_map(format, data, ontology, mapping, proposals=not gold, sizes=sizes)
    events = imported_events(mapped, named, f"import:{format}", as_gold=gold)
    await ledger.import_annotations(batch, events)
    return {"report": mapped.report.as_dict(), "items": len(events)}
