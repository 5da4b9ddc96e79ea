"""Ingest's item endpoints: uploads (raw, multipart, presigned), listing, and reading items."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from aviary.contracts.ingest import (
    ImportCreate,
    ImportRead,
    ImportUrlRead,
    ItemPage,
    ItemRead,
    UploadCreate,
    UploadReport,
    UploadResult,
    UploadTicket,
)
from aviary.contracts.shapes import Annotation, Ontology
from services.ingest import domain
from services.ingest.annotation_imports import parse_mapping, pre_annotations_of, read_and_map
from services.ingest.audio_uploads import AudioIngestor
from services.ingest.deps import (
    BatchesDep,
    CommitterDep,
    ImportsDep,
    ItemsDep,
    LedgerDep,
    ProjectsDep,
    UploadsDep,
)
from services.ingest.group_commit import GroupCommitter
from services.ingest.ledger import BatchLedger
from services.ingest.repositories import BatchRepository, ItemRepository, ProjectRepository
from services.ingest.uploads import Incoming, Ingestor, Outcome, item_read, read_limited
from services.ingest.video_uploads import VideoIngestor
from shared.errors import AppError
from shared.runtime import Runtime
from shared.security.auth import Principal, Role, org_scope, require_roles
from shared.store.mongo import Doc
from shared.web.deps import RuntimeDep

router = APIRouter(prefix="/v1", tags=["items"])

Client = Annotated[Principal, require_roles(Role.CLIENT)]
ClientOrOperator = Annotated[Principal, require_roles(Role.CLIENT, Role.OPERATOR)]

MAX_FILES_PER_REQUEST = 500
PRE_ANNOTATION_HEADER = "x-pre-annotation"
MAX_PRE_ANNOTATIONS_BYTES = 8 * 1024 * 1024


def parse_annotation(raw: str | bytes, where: str) -> Annotation:
    try:
        return Annotation.model_validate_json(raw)
    except ValidationError as exc:
        raise AppError(
            "invalid_pre_annotation",
            f"{where} is not a valid annotation",
            status_code=422,
            details=json.loads(exc.json(include_url=False)),
        ) from exc


def parse_pre_annotations(raw: str | bytes) -> dict[str, Annotation]:
    """The multipart field `pre_annotations`: {"<file name>": {"shapes": [...]}, ...}."""
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise AppError(
            "invalid_pre_annotation", "pre_annotations must be a JSON object", status_code=422
        ) from exc
    if not isinstance(data, dict):
        raise AppError(
            "invalid_pre_annotation",
            "pre_annotations must map file names to annotations",
            status_code=422,
        )
    return {
        str(name): parse_annotation(json.dumps(value), f"pre_annotations[{name!r}]")
        for name, value in data.items()
    }


async def ingestor(
    runtime: Runtime,
    batches: BatchRepository,
    projects: ProjectRepository,
    items: ItemRepository,
    ledger: BatchLedger,
    principal: Principal,
    batch_id: str,
    committer: GroupCommitter | None = None,
) -> Ingestor:
    """The ingestor of the caller's batch (and its project, as read a moment ago)."""
    batch, project = await batch_and_project(batches, projects, principal, batch_id)
    return Ingestor(runtime, items, ledger, batch, project, committer)


async def batch_and_project(
    batches: BatchRepository, projects: ProjectRepository, principal: Principal, batch_id: str
) -> tuple[Doc, Doc]:
    """The caller's batch and its project, as read a moment ago."""
    batch = await batches.recent(principal.org, batch_id)
    return batch, await projects.recent(principal.org, batch["project_id"])


def declared_size(request: Request) -> int | None:
    """The body's size as its Content-Length declares it, when it does."""
    declared = request.headers.get("content-length")
    return int(declared) if declared is not None and declared.isdigit() else None


def raise_if_failed(outcome: Outcome) -> ItemRead:
    if outcome.error is not None:
        raise outcome.error
    assert outcome.item is not None
    return outcome.item


def report(outcomes: list[Outcome]) -> UploadReport:
    results = [
        UploadResult(
            file_name=o.file_name,
            item=o.item,
            error={"code": o.error.code, "message": o.error.message} if o.error else None,
        )
        for o in outcomes
    ]
    items = [o.item for o in outcomes if o.item is not None]
    return UploadReport(
        accepted=sum(1 for i in items if not i.duplicate),
        duplicates=sum(1 for i in items if i.duplicate),
        refused=len(outcomes) - len(items),
        results=results,
    )


@router.post(
    "/batches/{batch_id}/items",
    response_model=ItemRead | UploadReport,
    responses={201: {"model": ItemRead}, 200: {"model": UploadReport}},
)
async def upload_items(
    batch_id: str,
    request: Request,
    response: Response,
    principal: Client,
    batches: BatchesDep,
    projects: ProjectsDep,
    items: ItemsDep,
    ledger: LedgerDep,
    runtime: RuntimeDep,
    committer: CommitterDep,
    file_name: Annotated[str | None, Query(max_length=1000)] = None,
) -> ItemRead | UploadReport:
    """Upload one image as the raw body, or one or many as multipart/form-data files.

    A raw upload may carry a pre-annotation in the `X-Pre-Annotation` header (JSON); a
    multipart upload in a `pre_annotations` field mapping file names to annotations, or as
    another tool's file: an `annotations` file part with `annotations_format` (labelstudio,
    cvat, coco; yolo and voc as a zip) and, optionally, `annotations_mapping` (JSON, as for
    `POST /v1/projects/{id}/imports/check`); its shapes become the images' pre-labels, made by
    `import:<format>`, matched by file name. If the file does not fit the project, nothing of
    the request is kept (422 `import_refused`, with the report).
    """
    work = await ingestor(runtime, batches, projects, items, ledger, principal, batch_id, committer)
    limit = runtime.settings.max_upload_bytes
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        return report(await work.ingest(await _multipart_files(request, limit, work.ontology)))
    if (declared_size(request) or 0) > limit:
        raise AppError("too_large", f"the upload exceeds {limit} bytes", status_code=413)
    data = await read_limited(request.stream(), limit)
    raw_pre = request.headers.get(PRE_ANNOTATION_HEADER)
    pre = parse_annotation(raw_pre, PRE_ANNOTATION_HEADER) if raw_pre else None
    name = file_name or request.headers.get("x-file-name", "")
    item = raise_if_failed((await work.ingest([Incoming(name, data, pre)]))[0])
    response.status_code = 200 if item.duplicate else 201
    return item


@router.post(
    "/batches/{batch_id}/videos",
    response_model=ItemRead,
    status_code=201,
    responses={200: {"model": ItemRead, "description": "the same video was uploaded before"}},
)
async def upload_video(
    batch_id: str,
    request: Request,
    response: Response,
    principal: Client,
    batches: BatchesDep,
    projects: ProjectsDep,
    items: ItemsDep,
    ledger: LedgerDep,
    runtime: RuntimeDep,
    file_name: Annotated[str | None, Query(max_length=1000)] = None,
    fps: Annotated[float, Query(gt=0, le=120)] = 10.0,
) -> ItemRead:
    """Upload one video (MP4, WebM or Matroska), or an image sequence as a zip of frames (in
    the natural order of their names, shown at `fps`), as the raw body of a video project's
    batch.

    It is read whole before anything is kept: refused with a machine code when it is not a
    readable, bounded video (docs/media.md), else cut into frames and clips, one task each."""
    batch, project = await batch_and_project(batches, projects, principal, batch_id)
    work = VideoIngestor(runtime, items, ledger, batch, project)
    name = whole_file_name(request, file_name, runtime.settings.max_video_bytes, "video")
    item = await work.ingest(request.stream(), name, fps)
    response.status_code = 200 if item.duplicate else 201
    return item


@router.post(
    "/batches/{batch_id}/recordings",
    response_model=ItemRead,
    status_code=201,
    responses={200: {"model": ItemRead, "description": "the same recording was uploaded before"}},
)
async def upload_recording(
    batch_id: str,
    request: Request,
    response: Response,
    principal: Client,
    batches: BatchesDep,
    projects: ProjectsDep,
    items: ItemsDep,
    ledger: LedgerDep,
    runtime: RuntimeDep,
    file_name: Annotated[str | None, Query(max_length=1000)] = None,
) -> ItemRead:
    """Upload one recording (WAV, FLAC, OGG Vorbis or Opus, MP3, M4A) as the raw body of an
    audio project's batch.

    It is read whole before anything is kept: refused with a machine code when it is not a
    readable, bounded recording (docs/media.md), else normalised, its speech proposed, and cut
    at silences into parts of at most the project's `audio.max_part_s`, one task each."""
    batch, project = await batch_and_project(batches, projects, principal, batch_id)
    work = AudioIngestor(runtime, items, ledger, batch, project)
    name = whole_file_name(request, file_name, runtime.settings.max_audio_bytes, "recording")
    item = await work.ingest(request.stream(), name)
    response.status_code = 200 if item.duplicate else 201
    return item


def whole_file_name(request: Request, file_name: str | None, limit: int, what: str) -> str:
    """The name a raw-body upload goes by (the query's, else the X-File-Name header); refused
    at once when it declares more than `limit` bytes (the body is counted as it comes, too)."""
    if (declared_size(request) or 0) > limit:
        raise AppError("too_large", f"the {what} exceeds {limit} bytes", status_code=413)
    return file_name or request.headers.get("x-file-name", "")


async def _multipart_files(request: Request, limit: int, ontology: Ontology) -> list[Incoming]:
    if (declared_size(request) or 0) > limit * 4:
        raise AppError("too_large", "the request body is too large", status_code=413)
    async with request.form(
        max_files=MAX_FILES_PER_REQUEST, max_fields=10, max_part_size=MAX_PRE_ANNOTATIONS_BYTES
    ) as form:
        uploads = [
            v for k, v in form.multi_items() if isinstance(v, UploadFile) and k != "annotations"
        ]
        if not uploads:
            raise AppError("no_files", "the multipart body holds no files", status_code=400)
        raw_pre = form.get("pre_annotations")
        pre = parse_pre_annotations(raw_pre) if isinstance(raw_pre, str) else {}
        foreign = form.get("annotations")
        if isinstance(foreign, UploadFile):
            if pre:
                raise AppError(
                    "invalid_pre_annotation",
                    "send pre_annotations or an annotations file, not both",
                    status_code=422,
                )
            fmt, mapping = form.get("annotations_format"), form.get("annotations_mapping")
            mapped = await read_and_map(
                fmt if isinstance(fmt, str) else "",
                await foreign.read(),
                ontology,
                parse_mapping(mapping if isinstance(mapping, str) else None),
            )
            pre = pre_annotations_of(mapped)
        files = []
        for upload in uploads:
            name = upload.filename or ""
            if upload.size is not None and upload.size > limit:
                # Refused on its own, never read into memory; the other files go ahead.
                too_large = AppError(
                    "too_large", f"the file exceeds {limit} bytes", status_code=413
                )
                files.append(Incoming(name, b"", None, refused=too_large))
            else:
                files.append(Incoming(name, await upload.read(), pre.get(name)))
    return files


@router.get("/batches/{batch_id}/items", response_model=ItemPage)
async def list_items(
    batch_id: str,
    principal: ClientOrOperator,
    batches: BatchesDep,
    items: ItemsDep,
    runtime: RuntimeDep,
    after: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ItemPage:
    """The batch's items in id order, a page at a time, each with a preview URL."""
    await batches.get(org_scope(principal), batch_id)
    docs = await items.in_batch(batch_id, after, limit)
    return ItemPage(
        items=[item_read(d) for d in docs],
        next_after=docs[-1]["_id"] if len(docs) == limit else None,
    )


@router.get("/items/{item_id}", response_model=ItemRead)
async def get_item(
    item_id: str, principal: ClientOrOperator, items: ItemsDep, runtime: RuntimeDep
) -> ItemRead:
    return item_read(await items.get(org_scope(principal), item_id))


@router.get(
    "/items/{item_id}/preview",
    status_code=307,
    response_class=RedirectResponse,
    responses={
        307: {"description": "redirect to a presigned URL of the WebP preview"},
        410: {"description": "the project's media retention removed the media"},
    },
)
async def get_preview(
    item_id: str, principal: ClientOrOperator, items: ItemsDep, runtime: RuntimeDep
) -> RedirectResponse:
    """A 320 px WebP of the image (upright), made on first request and kept in storage."""
    item = await items.get(org_scope(principal), item_id)
    if item.get("media_removed_at") is not None:
        raise AppError(
            "media_removed", "the project's retention removed this item's media", status_code=410
        )
    key = item.get("preview_key")
    if key is None:
        data = await runtime.storage.get_bytes(item["bucket"], item["object_key"])
        preview = await asyncio.to_thread(domain.preview_of, data, domain.PREVIEW_PX)
        key = domain.preview_key(item["org_id"], item["sha256"])
        await runtime.storage.put_bytes(item["bucket"], key, preview, "image/webp")
        await items.set_preview_key(item_id, key)
    ttl = runtime.settings.presign_ttl_s
    url = runtime.storage.presigned_get(item["bucket"], key, ttl)
    runtime.media_reads.record(item_id, "preview", ttl, orgs=[item["org_id"]])
    return RedirectResponse(url, status_code=307)


# ----- presigned uploads -------------------------------------------------------------------------


@router.post("/batches/{batch_id}/uploads", status_code=201, response_model=UploadTicket)
async def create_upload(
    batch_id: str,
    body: UploadCreate,
    principal: Client,
    batches: BatchesDep,
    uploads: UploadsDep,
    runtime: RuntimeDep,
) -> UploadTicket:
    """For large volumes: PUT the bytes to `put_url` (straight into storage), then confirm."""
    batch = await batches.get(principal.org, batch_id)
    if batch["status"] != "open":
        raise AppError("batch_sealed", "the batch is sealed; open a new batch", status_code=409)
    pre = body.pre_annotation.model_dump(mode="json") if body.pre_annotation else None
    upload = await uploads.create(batch, body.file_name, f"{principal.org}/staging", pre)
    ttl = runtime.settings.presign_ttl_s
    url = runtime.storage.presigned_put(runtime.settings.images_bucket, upload["staging_key"], ttl)
    return UploadTicket(
        upload_id=upload["_id"],
        put_url=url,
        expires_in_s=ttl,
        confirm_path=f"/v1/uploads/{upload['_id']}/confirm",
    )


@router.post("/uploads/{upload_id}/confirm", response_model=ItemRead)
async def confirm_upload(
    upload_id: str,
    response: Response,
    principal: Client,
    uploads: UploadsDep,
    batches: BatchesDep,
    projects: ProjectsDep,
    items: ItemsDep,
    ledger: LedgerDep,
    runtime: RuntimeDep,
) -> ItemRead:
    """Validate the uploaded object like any upload; confirming twice gives the same item."""
    upload = await uploads.get(principal.org, upload_id)
    if upload["status"] == "confirmed":
        return item_read(await items.get(principal.org, upload["item_id"]))
    bucket = runtime.settings.images_bucket
    size = await runtime.storage.size(bucket, upload["staging_key"])
    if size is None:
        raise AppError("not_uploaded", "nothing was uploaded to put_url yet", status_code=409)
    limit = runtime.settings.max_upload_bytes
    if size > limit:
        await runtime.storage.remove(bucket, upload["staging_key"])
        raise AppError("too_large", f"the upload exceeds {limit} bytes", status_code=413)
    data = await runtime.storage.get_bytes(bucket, upload["staging_key"])
    pre = Annotation.model_validate(upload["pre_annotation"]) if upload["pre_annotation"] else None
    work = await ingestor(runtime, batches, projects, items, ledger, principal, upload["batch_id"])
    outcome = (await work.ingest([Incoming(upload["file_name"], data, pre)]))[0]
    if outcome.error is not None:
        await runtime.storage.remove(bucket, upload["staging_key"])
        raise outcome.error
    item = raise_if_failed(outcome)
    await uploads.confirm(upload_id, item.id)
    await runtime.storage.remove(bucket, upload["staging_key"])
    response.status_code = 200
    return item


# ----- URL imports -------------------------------------------------------------------------------


def import_read(doc: dict[str, Any], urls: list[dict[str, Any]] | None = None) -> ImportRead:
    return ImportRead(
        id=doc["_id"],
        **{k: doc[k] for k in ("batch_id", "total", "pending", "done", "failed", "created_at")},
        urls=[ImportUrlRead.model_validate(u) for u in urls] if urls is not None else None,
    )


@router.post("/batches/{batch_id}/imports", status_code=202, response_model=ImportRead)
async def create_import(
    batch_id: str,
    body: ImportCreate,
    principal: Client,
    batches: BatchesDep,
    ledger: LedgerDep,
    runtime: RuntimeDep,
) -> ImportRead:
    """Import images by URL; they are fetched in the background, each with its own status."""
    if len(body.urls) > runtime.settings.import_max_urls:
        raise AppError(
            "too_many_urls",
            f"at most {runtime.settings.import_max_urls} URLs per import",
            status_code=422,
        )
    batch = await batches.get(principal.org, batch_id)
    if batch["status"] != "open":
        raise AppError("batch_sealed", "the batch is sealed; open a new batch", status_code=409)
    urls = [u.model_dump(mode="json") for u in body.urls]
    domain.refuse_unsafe_urls([u["url"] for u in urls], runtime.settings.import_allowed_networks)
    return import_read(await ledger.create_import(batch, urls))


@router.get("/imports/{import_id}", response_model=ImportRead)
async def get_import(
    import_id: str,
    principal: ClientOrOperator,
    imports: ImportsDep,
    urls: Annotated[bool, Query(description="false: the counts alone, to poll progress")] = True,
) -> ImportRead:
    """Progress of an import and the status of every URL (done with its item, or why not)."""
    doc = await imports.get(org_scope(principal), import_id)
    return import_read(doc, await imports.urls(import_id) if urls else None)
