"""Review's rules, apart from the database: who sees what, what a decision needs, the events
it publishes, and how figures are counted."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from services.review.consensus import match_score
from services.review.track_consensus import track_match_score
from shared.domain.tracks import clip_unit
from shared.errors import AppError, Conflict, NotFound
from shared.events import (
    Annotation,
    Envelope,
    EventData,
    ItemAccepted,
    ProjectUpserted,
    ReviewPolicy,
    TrackAnnotation,
)
from shared.observability import correlation_id

Route = Literal["accept", "human", "consensus"]
# An annotator's sampling rate is judged on this many of their latest human decisions...
RECENT_WINDOW = 20
# ...and only once there are at least this many.
RECENT_MINIMUM = 5


def sample_point(submission_id: str) -> float:
    """A stable number in [0, 1): a redelivered event always gets the same decision."""
    return int(hashlib.sha256(submission_id.encode()).hexdigest()[:15], 16) / 16**15


@dataclass(frozen=True)
class AnnotatorRecord:
    """What review knows of an annotator in a project when a submission arrives."""

    submitted: int = 0  # before this one
    recent: tuple[float, ...] = ()  # latest human decisions: 1 accepted, 0 rejected, partial

    @property
    def recent_acceptance(self) -> float | None:
        if len(self.recent) < RECENT_MINIMUM:
            return None
        return sum(self.recent) / len(self.recent)


def sampling_rate(policy: ReviewPolicy, record: AnnotatorRecord) -> float:
    """The share of this annotator's work a human sees (sample mode)."""
    if record.submitted < policy.new_annotator_tasks:
        return 1.0
    acceptance = record.recent_acceptance
    if acceptance is not None and acceptance < policy.low_score:
        return max(policy.rate, policy.raised_rate)
    return policy.rate


def route_submission(
    policy: ReviewPolicy, submission_id: str, record: AnnotatorRecord = AnnotatorRecord()
) -> Route:
    """Auto-accept, send to a human, or wait for the item's other overlaps."""
    if policy.mode == "auto":
        return "accept"
    if policy.mode == "all":
        return "human"
    if policy.mode == "consensus":
        return "consensus"
    return "human" if sample_point(submission_id) < sampling_rate(policy, record) else "accept"


def check_rejection(reason: str, comment: str, allowed: Sequence[str]) -> None:
    """A rejection needs a reason from the project's list and a comment: due process."""
    if reason not in allowed:
        raise AppError("unknown_reason", f"reason must be one of {list(allowed)}", status_code=422)
    if not comment.strip():
        raise AppError(
            "comment_required", "a rejection needs a comment for the annotator", status_code=422
        )


def check_appealable(sub: dict[str, Any], annotator_id: str) -> None:
    """An annotator appeals a rejection of their own work (once: the write checks that)."""
    if sub["annotator_id"] != annotator_id:
        raise NotFound("submission")
    if sub.get("outcome") != "rejected":
        raise Conflict("not_rejected", "only a rejected submission can be appealed")


# ----- units and the events they publish -------------------------------------------------


def review_queue(project: ProjectUpserted, vendor_id: str) -> str:
    """Whose reviewers see the work: the vendor's, or the client's when the project says so."""
    return project.org_id if project.review.reviewed_by == "client" else vendor_id


def queue_of(doc: dict[str, Any]) -> str:
    """The organisation whose reviewers see a unit (and its appeal)."""
    return str(doc.get("queue") or doc["vendor_id"])


def day_of(moment: datetime) -> str:
    return moment.astimezone(UTC).date().isoformat()


def check_rejected_part(
    unit: dict[str, Any], track_id: str | None, frames: tuple[int, int] | None
) -> dict[str, Any]:
    """The track and frames a rejection points at: only on a video clip, a track of its
    submission, frames inside the clip (first <= last). 422 `invalid_rejection` otherwise."""
    if track_id is None and frames is None:
        return {}
    clip = unit.get("clip")
    if clip is None:
        raise AppError(
            "invalid_rejection",
            "only a video clip's tracks and frames can be pointed at",
            status_code=422,
        )
    tracks = {t["track_id"] for t in (unit.get("tracks") or {}).get("tracks", [])}
    if track_id is not None and track_id not in tracks:
        raise AppError(
            "invalid_rejection", f"the submission has no track {track_id!r}", status_code=422
        )
    if frames is not None and not clip["start"] <= frames[0] <= frames[1] < clip["stop"]:
        raise AppError(
            "invalid_rejection",
            f"frames must run first to last within {clip['start']}..{clip['stop'] - 1}",
            status_code=422,
        )
    return {"track_id": track_id, "frames": frames}


def check_correction(
    unit: dict[str, Any], annotation: Annotation | None, tracks: TrackAnnotation | None
) -> tuple[Annotation, TrackAnnotation | None]:
    """A correction gives what the unit holds: tracks for a video clip, shapes for an image;
    422 `wrong_media` otherwise."""
    if (unit.get("clip") is not None) != (tracks is not None):
        raise AppError(
            "wrong_media",
            "a video clip is corrected with `tracks`, an image with `annotation`",
            status_code=422,
        )
    return annotation or Annotation(), tracks


def accepted_event(
    unit: dict[str, Any],
    reviewer_id: str | None,
    annotation: Annotation | dict[str, Any] | None = None,
    contributors: Sequence[str] = (),
    tracks: TrackAnnotation | dict[str, Any] | None = None,
) -> ItemAccepted:
    """The unit accepted: its own shapes (or tracks), or the final ones given."""
    return ItemAccepted(
        item_id=unit["item_id"],
        project_id=unit["project_id"],
        batch_id=unit["batch_id"],
        org_id=unit["org_id"],
        task_id=unit["task_id"],
        submission_id=unit["_id"],
        annotator_id=unit["annotator_id"],
        reviewer_id=reviewer_id,
        ontology_version=unit["ontology_version"],
        image=unit["image"],
        annotation=annotation if annotation is not None else unit["annotation"],
        contributors=tuple(contributors),
        clip=unit.get("clip"),
        tracks=tracks if tracks is not None else unit.get("tracks"),
    )


def clip_frames(unit: dict[str, Any]) -> range:
    """The frames of the clip a unit is about."""
    return range(unit["clip"]["start"], unit["clip"]["stop"])


def overlap_key(unit: dict[str, Any]) -> str:
    """What a unit's overlaps are collected under: its item, or its item's clip."""
    clip = unit.get("clip")
    return clip_unit(unit["item_id"], clip["index"] if clip else None)


def credit_against(
    unit: dict[str, Any], annotation: Annotation, tracks: TrackAnnotation | None
) -> float:
    """How well a submission (`unit`) matches an answer: a correction, a settled dispute or a
    gold item's known answer; its shapes, or a clip's tracks over the clip's frames."""
    if tracks is not None:
        submitted = TrackAnnotation.model_validate(unit.get("tracks") or {})
        return track_match_score(tracks, submitted, clip_frames(unit))
    image = unit["image"]
    original = Annotation.model_validate(unit["annotation"])
    return match_score(annotation, original, image["width"], image["height"])


def dispute_id(item_id: str, clip: int | None) -> str:
    """The dispute over an item's (or a clip's) overlaps: one at most, and safe in a URL."""
    return f"cns_{item_id}" if clip is None else f"cns_{item_id}-{clip}"


def envelope(event: EventData, *org_ids: str) -> Envelope:
    """An outgoing event, for the outbox, with the request's correlation id."""
    return Envelope.wrap(event, org_ids=org_ids, correlation_id=correlation_id.get())


# ----- figures ---------------------------------------------------------------------------

# What a decision is worth towards the acceptance rate: a correction is a partial accept,
# worth how much of the annotator's work survived it (its agreement with the correction).
DECIDED = ("accepted", "rejected", "corrected")


@dataclass
class Tally:
    """Counts over a set of submissions (one annotator, vendor or project, in a window)."""

    submitted: int = 0
    accepted: int = 0
    rejected: int = 0
    corrected: int = 0
    appealed: int = 0
    overturned: int = 0
    rework: int = 0
    seconds_worked: float = 0.0
    credit: float = 0.0  # accepted = 1, corrected = its partial credit
    agreement: list[float] = field(default_factory=list)
    gold: list[float] = field(default_factory=list)

    def add(self, sub: dict[str, Any]) -> None:
        self.submitted += 1
        self.seconds_worked += float(sub.get("seconds_worked", 0.0))
        self.rework += 1 if sub.get("rework", 0) > 0 else 0
        outcome = sub.get("outcome")
        if sub.get("appeal"):
            self.appealed += 1
            if sub["appeal"].get("status") == "overturned":
                self.overturned += 1
                outcome = "accepted"
        if outcome == "accepted":
            self.accepted += 1
            self.credit += 1.0
        elif outcome == "rejected":
            self.rejected += 1
        elif outcome == "corrected":
            self.corrected += 1
            self.credit += float(sub.get("credit", 0.0))
        if sub.get("agreement") is not None:
            self.agreement.append(float(sub["agreement"]))
        if sub.get("gold_score") is not None:
            self.gold.append(float(sub["gold_score"]))

    def summary(self) -> dict[str, Any]:
        decided = self.accepted + self.rejected + self.corrected
        hours = self.seconds_worked / 3600
        return {
            "submitted": self.submitted,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "corrected": self.corrected,
            "appealed": self.appealed,
            "overturned": self.overturned,
            "rework": self.rework,
            "acceptance_rate": _ratio(self.credit, decided),
            "agreement": _mean(self.agreement),
            "gold_accuracy": _mean(self.gold),
            "hours_worked": round(hours, 4),
            "throughput_per_hour": _ratio(self.submitted, hours),
        }


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 4) if b else None


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def tally_by(subs: Iterable[dict[str, Any]], key: str) -> dict[str, Tally]:
    tallies: dict[str, Tally] = {}
    for sub in subs:
        tallies.setdefault(str(sub[key]), Tally()).add(sub)
    return tallies


@dataclass(frozen=True)
class StatementLine:
    """One project and day of an annotator's work, and what it paid."""

    project_id: str
    day: str
    completed: int
    accepted: int
    rejected: int
    appealed: int
    piece_rate: float
    seconds_worked: float

    @property
    def earnings(self) -> float:
        # Paid for all completed work: a rejection sends it back, it does not cancel the pay.
        return round(self.completed * self.piece_rate, 4)

    @property
    def hourly(self) -> float | None:
        return (
            round(self.earnings / (self.seconds_worked / 3600), 2) if self.seconds_worked else None
        )


def statement(subs: Iterable[dict[str, Any]], piece_rates: dict[str, float]) -> list[StatementLine]:
    """An annotator's statement: per project and day, from their submissions."""
    groups: dict[tuple[str, str], Tally] = {}
    for sub in subs:
        groups.setdefault((sub["project_id"], sub["day"]), Tally()).add(sub)
    return [
        StatementLine(
            project_id=project_id,
            day=day,
            completed=t.submitted,
            accepted=t.accepted + t.corrected,
            rejected=t.rejected,
            appealed=t.appealed,
            piece_rate=piece_rates.get(project_id, 0.0),
            seconds_worked=round(t.seconds_worked, 1),
        )
        for (project_id, day), t in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0]))
    ]


def effective_hourly(lines: Sequence[StatementLine]) -> float | None:
    seconds = sum(line.seconds_worked for line in lines)
    earned = sum(line.earnings for line in lines)
    return round(earned / (seconds / 3600), 2) if seconds else None
