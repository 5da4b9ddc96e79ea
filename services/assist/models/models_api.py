"""`/v1/models`: the operator uploads ONNX models with their manifests; anyone signed in may
see what is installed (a client picks its project's pre-labeler and segmenter from them)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from aviary.contracts.assist import MODEL_NAME, ModelManifest, ModelRead
from services.assist.models.catalog import ModelCatalog
from shared.errors import AppError, NotFound
from shared.security.auth import CurrentPrincipal, Principal, Role, require_roles

router = APIRouter(tags=["models"])

Operator = Annotated[Principal, require_roles(Role.OPERATOR)]
MAX_MANIFEST_BYTES = 256 * 1024
FILE_FIELDS = ("model", "encoder", "decoder")


async def catalog_of(request: Request) -> ModelCatalog:
    """The catalogue main.py built (`app.state.parts.models`)."""
    catalog = getattr(request.app.state.parts, "models", None)
    if not isinstance(catalog, ModelCatalog):
        raise TypeError("app.state.parts has no `models` ModelCatalog")
    return catalog


CatalogDep = Annotated[ModelCatalog, Depends(catalog_of)]


def _declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length", "")
    return int(value) if value.isdigit() else None


async def _read_upload(request: Request, limit: int) -> tuple[ModelManifest, dict[str, bytes]]:
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise AppError(
            "unsupported_media_type",
            "send multipart/form-data: a `manifest` field and the model file(s)",
            status_code=415,
        )
    declared = _declared_length(request)
    if declared is None:
        # The files are spooled to disk while the form is parsed: only a body of a known,
        # bounded length is read.
        raise AppError("length_required", "the upload needs a Content-Length", status_code=411)
    if declared > limit + MAX_MANIFEST_BYTES:
        raise AppError("too_large", f"a model may be at most {limit} bytes", status_code=413)
    async with request.form(
        max_files=len(FILE_FIELDS), max_fields=1, max_part_size=MAX_MANIFEST_BYTES
    ) as form:
        raw = form.get("manifest")
        if not isinstance(raw, str):
            raise AppError(
                "invalid_manifest", "the `manifest` field (JSON) is missing", status_code=422
            )
        try:
            manifest = ModelManifest.model_validate_json(raw)
        except ValidationError as exc:
            details = [
                {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]}
                for e in exc.errors(include_url=False)
            ]
            raise AppError(
                "invalid_manifest",
                "the manifest does not match its schema",
                status_code=422,
                details=details,
            ) from exc
        files: dict[str, bytes] = {}
        for field, value in form.multi_items():
            if not isinstance(value, UploadFile):
                continue
            if field not in FILE_FIELDS or field in files:
                raise AppError(
                    "wrong_files",
                    f"unexpected file field {field!r}: send `model`, or `encoder` and `decoder`",
                    status_code=422,
                )
            if (value.size or 0) > limit:
                raise AppError(
                    "too_large", f"a model may be at most {limit} bytes", status_code=413
                )
            files[field] = await value.read()
    if sum(len(d) for d in files.values()) > limit:
        raise AppError("too_large", f"a model may be at most {limit} bytes", status_code=413)
    return manifest, files


@router.post("/v1/models", response_model=ModelRead, status_code=201)
async def upload_model(request: Request, principal: Operator, catalog: CatalogDep) -> ModelRead:
    """Upload a model as multipart/form-data: `manifest` (JSON, docs/assist.md) and the file
    `model` (task detect or segment) or the files `encoder` and `decoder` (promptable-segment).

    The files are loaded with onnxruntime and checked against the task's inputs and outputs
    before anything is kept; each upload of a name is its next version."""
    manifest, files = await _read_upload(request, catalog.max_bytes)
    return await catalog.upload(manifest, files, principal.sub)


@router.get("/v1/models", response_model=list[ModelRead])
async def list_models(_: CurrentPrincipal, catalog: CatalogDep) -> list[ModelRead]:
    """The latest version of every installed model, by name."""
    return await catalog.latest_of_each()


@router.get("/v1/models/{name}", response_model=list[ModelRead])
async def model_versions(
    name: Annotated[str, Path(pattern=MODEL_NAME)], _: CurrentPrincipal, catalog: CatalogDep
) -> list[ModelRead]:
    """Every version of one model, newest first."""
    versions = await catalog.versions(name)
    if not versions:
        raise NotFound("model")
    return versions
