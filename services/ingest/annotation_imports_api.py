"""Another tool's annotation file for a project: `POST /v1/projects/{id}/imports/check`, what
it would become (the mapping step; nothing kept), and `POST /v1/batches/{id}/imports/annotations`,
its shapes as proposals (or known answers) for the batch's items already uploaded, matched by
file name or, where the caller sends each image's SHA-256, by content."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request
from starlette.datastructures import UploadFile

from aviary.contracts.shapes import Ontology
from services.ingest.annotation_imports import (
    MAX_BYTES,
    BatchItems,
    imported_events,
    parse_checksums,
    parse_mapping,
    read_and_check,
    read_and_map,
    refused,
)
from services.ingest.deps import BatchesDep, ItemsDep, LedgerDep, ProjectsDep
from services.ingest.track_imports import check_tracks, holds_tracks, tracks_event
from services.ingest.uploads import read_limited
from shared.errors import AppError
from shared.security.auth import Principal, Role, org_scope, require_roles
from shared.web.deps import RuntimeDep

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
    if holds_tracks(format, data):
        return (await check_tracks(data, ontology, mapping)).report.as_dict()
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
    runtime: RuntimeDep,
    kind: Annotated[Literal["prelabels", "gold"], Query(alias="as")] = "prelabels",
    item: Annotated[str | None, Query(max_length=100)] = None,
    x_import_mapping: Annotated[str | None, Header(max_length=100_000)] = None,
) -> dict[str, Any]:
    """The file's shapes become proposals (made by `import:<format>`) on the tasks of the
    batch's items that nobody has submitted yet, or, with `as=gold`, the items' known answers
    (review's gold, mixed into the work like any other). The body is the file, or a multipart
    form of the file (part `file`) and `checksums`, a JSON object of image name -> SHA-256:
    those images match items by content, the others by the file name they were uploaded
    under. Every image must match one item of the batch, or nothing is imported (422
    `import_refused`, with the report). A CVAT for video file gives its tracks to the clip
    tasks of one video item (`item`, or the one its meta names): track_imports. The answer:
    the report and how many items matched; dispatch or review applies it in a moment (202)."""
    batch = await batches.get(org_scope(principal), batch_id)
    project = await projects.get(None, batch["project_id"])
    data, checksums = await _file_and_checksums(request)
    ontology = Ontology.model_validate(project["ontology"])
    mapping = parse_mapping(x_import_mapping)
    gold = kind == "gold"
    found = BatchItems.of(await items.matchable(batch_id))
    if holds_tracks(format, data):
        storage = runtime.storage
        tracked, event = await tracks_event(data, found, item, ontology, mapping, storage, gold)
        await ledger.import_annotations(batch, [event])
        return {"report": tracked.report.as_dict(), "items": 1}
    sizes = found.sizes(checksums)
    checked = await read_and_check(format, data, ontology, mapping, not gold, sizes)
    del data  # the file's bytes: read already
    events = imported_events(checked, found, f"import:{format}", as_gold=gold, checksums=checksums)
    await ledger.import_annotations(batch, events)
    return {"report": checked.report.as_dict(), "items": len(events)}


async def _file_and_checksums(request: Request) -> tuple[bytes, dict[str, str]]:
    """The body as the file, or the multipart form's `file` and `checksums` parts."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        return await read_limited(request.stream(), MAX_BYTES), {}
    async with request.form(max_files=2, max_fields=2) as form:
        file, checksums = form.get("file"), form.get("checksums")
        if not isinstance(file, UploadFile):
            raise refused("no_file", "the multipart form has no `file` part")
        if file.size is not None and file.size > MAX_BYTES:
            raise AppError("too_large", f"the file exceeds {MAX_BYTES} bytes", status_code=413)
        raw: str | bytes | None = None
        if isinstance(checksums, UploadFile):
            raw = await checksums.read()
        elif isinstance(checksums, str):
            raw = checksums
        return await file.read(), parse_checksums(raw)
