"""Dispatch's pure rules: task ids, routing by vendor share, submission validation, the
event a submission publishes."""

from __future__ import annotations

import hashlib
import secrets
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from shared.domain.annotation_rules import ShapeError, validate_annotation
from shared.errors import AppError
from shared.events import (
    Annotation,
    Envelope,
    ItemIngested,
    ItemPrelabeled,
    TaskSubmitted,
    TrackAnnotation,
    Transcript,
    VendorShare,
)
from shared.observability import correlation_id

if TYPE_CHECKING:  # the leases package uses this module
    from services.dispatch.leases.slots import Doc, Lease

__all__ = ["ShapeError", "route_vendor", "task_id", "validate_annotation"]


def task_id(item_id: str, slot: int) -> str:
    """Deterministic, so a redelivered `item.ingested` can never create a second task."""
    return "tsk_" + hashlib.sha256(f"{item_id}:{slot}".encode()).hexdigest()[:24]


def gold_task_id(item_id: str) -> str:
    """The gold task an item may bring along: one id per item, so a redelivery adds none."""
    return task_id(f"gold:{item_id}", 0)


def copy_key(task: Doc) -> str:
    """What overlap copies share: the item, or a video's clip (each clip is its own)."""
    return str(task.get("copy_key") or task["item_id"])


def proposed_segments(speech: list[list[float]], start_s: float, end_s: float) -> Doc:
    """The speech segments detected in a recording (seconds), cut to one part: a transcript
    to start from, without text."""
    inside = [(max(s, start_s), min(e, end_s)) for s, e in speech if e > start_s and s < end_s]
    return {
        "segments": [
            {"segment_id": f"vad-{n}", "start": round(s, 3), "end": round(e, 3), "event": "speech"}
            for n, (s, e) in enumerate(inside)
            if round(e, 3) > round(s, 3)
        ]
    }


def unit_hash(text: str) -> float:
    """A stable number in [0, 1) from a string."""
    return int(hashlib.sha256(text.encode()).hexdigest()[:15], 16) / 16**15


def route_vendor(vendors: Sequence[VendorShare], item_id: str, slot: int) -> str:
    """Pick a vendor with probability equal to its share, stably per task."""
    if not vendors:
        raise ValueError("a project needs at least one vendor")
    point = unit_hash(f"route:{item_id}:{slot}") * sum(v.share for v in vendors)
    cumulative = 0.0
    for vendor in vendors:
        cumulative += vendor.share
        if point < cumulative:
            return vendor.vendor_id
    return vendors[-1].vendor_id


def makes_tasks(event: ItemIngested) -> bool:
    """An item ingested for a pre-labeler gets its tasks from `item.prelabeled`, any other
    from `item.ingested`: each item from one event, however many come."""
    return event.prelabel == isinstance(event, ItemPrelabeled)


def proposed(task: Doc) -> dict[str, int]:
    """The shapes each model proposed for the task (its pre-annotation's that name one)."""
    shapes = (task.get("pre_annotation") or {}).get("shapes", ())
    return dict(Counter(m for s in shapes if (m := (s.get("source") or {}).get("model"))))


def refuse_invented_sources(
    annotation: Annotation, task: Doc, segmenter: str | None = None
) -> None:
    """A shape may say a model made it (as proposed, or edited since) only if that model
    proposed shapes for this task, or is one the person could ask for outlines (GrabCut, the
    project's `segmenter`, any version): provenance is the platform's record, not a claim."""
    known = set(proposed(task)) | {"grabcut"}
    helpers = {"grabcut", (segmenter or "grabcut").split("@")[0]}
    claimed = {s.source.model for s in annotation.shapes if s.source and s.source.by != "human"}
    invented = [m for m in claimed if m not in known and str(m).split("@")[0] not in helpers]
    if unknown := sorted(str(m) for m in invented):
        raise AppError(
            "unknown_source",
            f"no model {unknown} proposed shapes for this task",
            status_code=422,
        )


def submission_id() -> str:
    return "sub_" + secrets.token_hex(12)


def submitted_event(
    task: Doc,
    lease: Lease,
    submission_id: str,
    annotation: Annotation,
    seconds: float,
    tracks: TrackAnnotation | None = None,
    transcript: Transcript | None = None,
) -> Envelope:
    submitted = TaskSubmitted(
        task_id=task["_id"],
        submission_id=submission_id,
        item_id=task["item_id"],
        project_id=task["project_id"],
        batch_id=task["batch_id"],
        org_id=task["org_id"],
        vendor_id=lease.vendor_id,
        annotator_id=lease.annotator_id,
        ontology_version=task["ontology_version"],
        image=task["image"],
        annotation=annotation,
        rework=lease.round,
        seconds_worked=seconds,
        gold_id=task.get("gold_id"),
        stage=task.get("stage", "production"),
        round=task.get("round", 0),
        clip=task.get("clip"),
        tracks=tracks,
        transcript=transcript,
        proposed=proposed(task),
    )
    return Envelope.wrap(
        submitted,
        org_ids=(task["org_id"], lease.vendor_id),
        correlation_id=correlation_id.get(),
    )


def labeled_classes(pre_annotation: Doc | None) -> list[int]:
    """The classes a task's pre-labels hold (none known without pre-labels)."""
    shapes = (pre_annotation or {}).get("shapes", ())
    return sorted({int(s["class_id"]) for s in shapes if "class_id" in s})
