"""`POST /v1/projects/{id}/imports/check`: what another tool's annotation file would become in
the project (the mapping step), before any image is sent. Nothing is kept."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request

from aviary.contracts.shapes import Ontology
from services.ingest.annotation_imports import MAX_BYTES, parse_mapping, read_and_map
from services.ingest.deps import ProjectsDep
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
