"""Image sequences sent frame by frame: PUT each frame at its index, then close the sequence
into one video item (`sequence_uploads.py`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from aviary.contracts.ingest import (
    SEQUENCE_ID,
    ItemRead,
    SequenceClose,
    SequenceFrameRead,
    SequenceRead,
)
from services.ingest.deps import BatchesDep, ItemsDep, LedgerDep, ProjectsDep, SequencesDep
from services.ingest.items_api import Client, declared_size
from services.ingest.sequence_uploads import SequenceUploads
from services.ingest.uploads import read_limited
from services.ingest.video_uploads import VideoIngestor
from shared.errors import AppError, NotFound
from shared.web.deps import RuntimeDep

router = APIRouter(prefix="/v1/batches/{batch_id}/sequences/{sequence_id}", tags=["items"])

SequenceId = Annotated[str, Path(pattern=SEQUENCE_ID)]


async def sequence_uploads(
    batch_id: str,
    principal: Client,
    batches: BatchesDep,
    projects: ProjectsDep,
    items: ItemsDep,
    ledger: LedgerDep,
    sequences: SequencesDep,
    runtime: RuntimeDep,
) -> SequenceUploads:
    """The caller's batch of a video project, open, receiving sequences. Read afresh, not
    from the moment-old copy image uploads use: a sequence spans many requests, and a frame
    sent after the seal must be refused."""
    batch = await batches.get(principal.org, batch_id)
    project = await projects.recent(principal.org, batch["project_id"])
    video = VideoIngestor(runtime, items, ledger, batch, project)
    return SequenceUploads(runtime, sequences, video)


Uploads = Annotated[SequenceUploads, Depends(sequence_uploads)]


@router.put("/frames/{index}", response_model=SequenceFrameRead)
async def put_frame(
    batch_id: str,
    sequence_id: SequenceId,
    index: Annotated[int, Path(ge=0)],
    request: Request,
    work: Uploads,
    runtime: RuntimeDep,
) -> SequenceFrameRead:
    """One frame (JPEG, PNG or WebP) as the raw body; sent again, it replaces the one before."""
    limit = runtime.settings.max_upload_bytes
    if (declared_size(request) or 0) > limit:
        raise AppError("too_large", f"the frame exceeds {limit} bytes", status_code=413)
    info = await work.put_frame(sequence_id, index, await read_limited(request.stream(), limit))
    return SequenceFrameRead(
        sequence_id=sequence_id,
        index=index,
        sha256=info.sha256,
        width=info.width,
        height=info.height,
        size_bytes=info.size_bytes,
    )


@router.get("", response_model=SequenceRead)
async def get_sequence(
    batch_id: str,
    sequence_id: SequenceId,
    principal: Client,
    batches: BatchesDep,
    sequences: SequencesDep,
) -> SequenceRead:
    await batches.get(principal.org, batch_id)
    state = await sequences.get(batch_id, sequence_id)
    if state is None:
        raise NotFound("sequence")
    frames = await sequences.frames_of(batch_id, sequence_id)
    return SequenceRead(
        sequence_id=sequence_id,
        status=state["status"],
        frames_received=state.get("frames", 0) if state["status"] == "closed" else len(frames),
        last_index=frames[-1]["index"] if frames else None,
        item_id=state.get("item_id"),
    )


@router.post(
    "/close",
    response_model=ItemRead,
    status_code=201,
    responses={200: {"model": ItemRead, "description": "the sequence was closed before"}},
)
async def close_sequence(
    batch_id: str,
    sequence_id: SequenceId,
    body: SequenceClose,
    response: Response,
    work: Uploads,
) -> ItemRead:
    """Frames 0..frame_count-1, all arrived, become one video item, read and refused as a zip
    of frames is (docs/media.md); 422 `missing_frames` lists the indexes still missing."""
    item = await work.close(sequence_id, body.frame_count, body.fps, body.file_name or "")
    response.status_code = 200 if item.duplicate else 201
    return item
