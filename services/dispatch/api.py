"""The worker API: next, heartbeat, submit, skip, release."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status

from aviary.contracts.dispatch import (
    ClipView,
    ImageView,
    LeaseRef,
    LeaseView,
    ReworkComment,
    SkipBody,
    SubmitBody,
    SubmitResult,
    TaskView,
    VideoView,
)
from aviary.contracts.shapes import Annotation
from aviary.contracts.speech import AudioView
from services.dispatch import domain
from services.dispatch.deps import DispatchParts, from_app
from services.dispatch.leases import Lease, LeasedTask
from shared.domain.annotation_rules import require_valid_annotation, require_valid_tracks
from shared.domain.transcript_rules import require_valid_transcript
from shared.errors import AppError, Conflict
from shared.events import ProjectUpserted
from shared.security.auth import Role, authorize, vendor_of
from shared.store.mongo import Doc, utcnow
from shared.web.deps import WaitS
from shared.web.leanroute import LeanRoute

# Served by lean handlers: these routes run hundreds of times a second (shared/web/leanroute.py).
router = APIRouter(prefix="/v1/tasks", tags=["worker"], route_class=LeanRoute)
ANNOTATORS = frozenset({Role.ANNOTATOR})
# The shortest life of a media URL: the page loads it at once, and clocks may differ a little.
MIN_MEDIA_TTL_S = 30


@dataclass(frozen=True)
class Worker:
    """An annotator's call: who is calling, for which vendor, and what serves it. One
    dependency for the hot routes: each one costs the framework a resolution pass."""

    annotator_id: str
    vendor_id: str
    parts: DispatchParts

    async def held(self, task_id: str, body: LeaseRef) -> LeasedTask:
        return await self.parts.leases.held(
            self.vendor_id, self.annotator_id, task_id, body.lease_id
        )


async def worker(request: Request) -> Worker:
    principal = await authorize(request, ANNOTATORS)
    return Worker(principal.sub, vendor_of(principal), await from_app.get(request))


WorkerDep = Annotated[Worker, Depends(worker)]


def media_ttl(call: Worker, lease: Lease) -> int:
    """Seconds a URL of the task's media lives: until its lease ends (a heartbeat hands out
    fresh ones), so a person reads only the media of the task they hold; never under
    `MIN_MEDIA_TTL_S` (clocks differ), never over `presign_ttl_s`."""
    left = (lease.expires_at - utcnow()).total_seconds()
    return int(max(MIN_MEDIA_TTL_S, min(call.parts.runtime.settings.presign_ttl_s, left)))


def media_of(task: Doc) -> str:
    """What a task shows its annotator: a recording, a clip's frames, or a picture."""
    return "audio" if task.get("audio") else "frames" if task.get("video") else "image"


def record_read(call: Worker, task: Doc, ttl: int) -> None:
    """The annotator was handed the task's media (shared/security/media_reads.py)."""
    call.parts.runtime.media_reads.record(
        task["item_id"], media_of(task), ttl, orgs=[task["org_id"]], task_id=task["_id"]
    )


async def task_view(call: Worker, leased: LeasedTask) -> TaskView:
    task, lease = leased.task, leased.lease
    project = await call.parts.tasks.get_project_version(
        task["project_id"], task["ontology_version"]
    )
    image = task["image"]
    ttl = media_ttl(call, lease)
    record_read(call, task, ttl)
    url = call.parts.runtime.storage.presigned_get(image["bucket"], image["object_key"], ttl)
    return TaskView(
        id=task["_id"],
        lease_id=lease.id,
        lease_expires_at=lease.expires_at,
        project_id=task["project_id"],
        item_id=task["item_id"],
        batch_id=task.get("batch_id"),
        ontology_version=task["ontology_version"],
        classes=list(project.ontology.classes),
        instructions=project.instructions,
        image=ImageView(url=url, width=image["width"], height=image["height"]),
        rework=task["rework"],
        comments=[ReworkComment.model_validate(c) for c in task.get("comments", [])],
        piece_rate=project.rate_for(lease.vendor_id),
        estimated_seconds=await call.parts.work.estimated_seconds(task["project_id"]),
        pre_annotation=task.get("pre_annotation"),
        previous_annotation=task.get("last_annotation") if task["rework"] else None,
        video=video_view(call, task, ttl),
        previous_tracks=task.get("last_tracks") if task["rework"] else None,
        pre_tracks=_tracks_only(task.get("pre_tracks")),
        audio=audio_view(call, task, project, ttl),
        pre_transcript=task.get("pre_transcript"),
        previous_transcript=task.get("last_transcript") if task["rework"] else None,
        stage=task.get("stage", "production"),
    )


def _tracks_only(pre_tracks: Doc | None) -> Doc | None:
    """The tracks of an import, without the name of the tool they came from."""
    return {"tracks": pre_tracks["tracks"]} if pre_tracks else None


def audio_view(call: Worker, task: Doc, project: ProjectUpserted, ttl: int) -> AudioView | None:
    """An audio task's part, with URLs for the recording's listening copy and its peaks."""
    audio = task.get("audio")
    if audio is None:
        return None
    storage = call.parts.runtime.storage
    clip = task["clip"]
    return AudioView(
        url=storage.presigned_get(audio["bucket"], audio["listening_key"], ttl),
        peaks_url=storage.presigned_get(audio["bucket"], audio["peaks_key"], ttl),
        duration_s=audio["duration_s"],
        start=clip["start"] / 1000,
        end=clip["stop"] / 1000,
        part=clip["index"],
        parts=clip["count"],
        settings=project.audio,
    )


def video_view(call: Worker, task: Doc, ttl: int) -> VideoView | None:
    """A video task's clip, with a URL for each of its frames."""
    video = task.get("video")
    if video is None:
        return None
    storage = call.parts.runtime.storage
    return VideoView(
        fps=video["fps"],
        width=video["width"],
        height=video["height"],
        clip=ClipView.model_validate(task["clip"]),
        frames=[storage.presigned_get(video["bucket"], key, ttl) for key in video["frame_keys"]],
    )


@router.post(
    "/next",
    response_model=TaskView,
    responses={204: {"description": "no task available within the wait"}},
)
async def next_task(call: WorkerDep, wait_s: WaitS = 0) -> TaskView | Response:
    """Lease the next task, waiting up to `wait_s` seconds for one to appear.

    429 `daily_limit_reached` once the annotator's work limit for the day is used up."""
    leased = await call.parts.dispatcher.lease(call.vendor_id, call.annotator_id, wait_s)
    if leased is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return await task_view(call, leased)


@router.post("/{task_id}/heartbeat", response_model=LeaseView)
async def heartbeat(task_id: str, body: LeaseRef, call: WorkerDep) -> LeaseView:
    """Extend the lease. The answer's `lease_id` is the one to use from now on (it changes
    when a lease that had expired, and that nobody took meanwhile, is taken again)."""
    held = await call.held(task_id, body)
    lease = await call.parts.leases.heartbeat(held)
    storage, ttl, task = call.parts.runtime.storage, media_ttl(call, lease), held.task
    image, audio = task["image"], task.get("audio")
    record_read(call, task, ttl)
    return LeaseView(
        id=task_id,
        lease_id=lease.id,
        lease_expires_at=lease.expires_at,
        image_url=storage.presigned_get(image["bucket"], image["object_key"], ttl),
        audio_url=storage.presigned_get(audio["bucket"], audio["listening_key"], ttl)
        if audio is not None
        else None,
    )


@router.post("/{task_id}/release", status_code=status.HTTP_204_NO_CONTENT)
async def release(task_id: str, body: LeaseRef, call: WorkerDep) -> None:
    """Hand the task back to the pool; the time held counts as worked."""
    await call.parts.dispatcher.give_back(await call.held(task_id, body))


@router.post("/{task_id}/skip", status_code=status.HTTP_204_NO_CONTENT)
async def skip(task_id: str, body: SkipBody, call: WorkerDep) -> None:
    """Pass on a task with a reason; it goes to someone else (after several skips, to an
    operator)."""
    await call.parts.dispatcher.give_back(
        await call.held(task_id, body),
        skip={"reason": body.reason.value, "comment": body.comment},
    )


@router.post("/{task_id}/submit", response_model=SubmitResult)
async def submit(task_id: str, body: SubmitBody, call: WorkerDep) -> SubmitResult:
    """Submit the annotation (an image task) or the tracks (a video task); it is checked
    against the task's ontology version and its image or clip."""
    leased = await call.held(task_id, body)
    task = leased.task
    version = task["ontology_version"]
    if body.ontology_version is not None and body.ontology_version != version:
        raise Conflict(
            "ontology_version_mismatch",
            f"the task uses ontology version {version}, not {body.ontology_version}",
        )
    project = await call.parts.tasks.get_project_version(task["project_id"], version)
    width, height = task["image"]["width"], task["image"]["height"]
    clip = task.get("clip")
    transcript = None
    if task.get("audio") is not None:
        if body.transcript is None or body.tracks is not None or _has_shapes(body.annotation):
            raise AppError(
                "transcript_required",
                "an audio task is submitted as a transcript",
                status_code=422,
            )
        part = task["clip"]  # an audio task always has its part
        require_valid_transcript(
            body.transcript, project.audio, part["start"] / 1000, part["stop"] / 1000
        )
        annotation, tracks, transcript = Annotation(), None, body.transcript
    elif clip is None:
        if body.annotation is None or body.tracks is not None or body.transcript is not None:
            raise AppError(
                "annotation_required",
                "an image task is submitted as an annotation",
                status_code=422,
            )
        require_valid_annotation(body.annotation, project.ontology, width, height)
        domain.refuse_invented_sources(body.annotation, task, project.assist.segmenter)
        annotation, tracks = body.annotation, None
    else:
        if body.tracks is None or _has_shapes(body.annotation) or body.transcript is not None:
            raise AppError(
                "tracks_required", "a video task is submitted as tracks", status_code=422
            )
        frames = range(clip["start"], clip["stop"])
        require_valid_tracks(body.tracks, project.ontology, width, height, frames)
        annotation, tracks = Annotation(), body.tracks
    submission_id = await call.parts.dispatcher.submit(leased, annotation, tracks, transcript)
    return SubmitResult(task_id=task_id, submission_id=submission_id)


def _has_shapes(annotation: Annotation | None) -> bool:
    return annotation is not None and bool(annotation.shapes)
