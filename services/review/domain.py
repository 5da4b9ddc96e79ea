"""Review's rules, apart from the database: who sees what, what a decision needs, the events
it publishes, and how figures are counted."""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from aviary.contracts.assist import ModelStats
from services.review.consensus import match_score
from services.review.speech_consensus import transcript_score
from services.review.track_consensus import track_match_score
from shared.domain.annotation_rules import require_valid_annotation, require_valid_tracks
from shared.domain.tracks import clip_unit
from shared.domain.transcript_rules import require_valid_transcript
from shared.errors import AppError, Conflict, NotFound
from shared.events import (
    Annotation,
    Envelope,
    EventData,
    ItemAccepted,
    ProjectUpserted,
    ReviewPolicy,
    TaskSubmitted,
    TrackAnnotation,
    Transcript,
)
from shared.observability import correlation_id

Route = Literal["accept", "human", "consensus"]
# An annotator's sampling rate is judged on this many of their latest human decisions...
RECENT_WINDOW = 20
# ...and only once there are at least this many.
RECENT_MINIMUM = 5
# Two segments of a transcript and its answer are the same stretch when their times overlap
# this much (intersection over union), as shapes match by area at the project's threshold.
SEGMENT_MATCH = 0.5
Media = Literal["image", "video", "audio"]


@dataclass(frozen=True)
class Answer:
    """What a unit is labeled with, by its media: an image's shapes, a video clip's tracks,
    an audio part's transcript (the others then empty)."""

    annotation: Annotation = field(default_factory=Annotation)
    tracks: TrackAnnotation | None = None
    transcript: Transcript | None = None

    @classmethod
    def of(cls, doc: dict[str, Any], shapes_field: str = "annotation") -> Answer:
        """From a document's `annotation` (a gold item's: `answer`), `tracks` and
        `transcript`."""
        shapes = doc.get(shapes_field)
        tracks, transcript = doc.get("tracks"), doc.get("transcript")
        return cls(
            Annotation.model_validate(shapes or {}),
            TrackAnnotation.model_validate(tracks) if tracks is not None else None,
            Transcript.model_validate(transcript) if transcript is not None else None,
        )

    def fields(self, prefix: str) -> dict[str, Any]:
        """The answer as stored under `<prefix>` names (a correction, a dispute's final)."""
        if self.transcript is not None:
            return {f"{prefix}_transcript": self.transcript.model_dump(mode="json")}
        if self.tracks is not None:
            return {f"{prefix}_tracks": self.tracks.model_dump(mode="json")}
        return {prefix: self.annotation.model_dump(mode="json")}


def unit_media(unit: dict[str, Any]) -> Media:
    """A unit's media: an audio part carries a transcript, a video clip a clip."""
    if unit.get("transcript") is not None:
        return "audio"
    return "video" if unit.get("clip") is not None else "image"


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
    unit: dict[str, Any],
    track_id: str | None,
    frames: tuple[int, int] | None,
    segment_id: str | None = None,
) -> dict[str, Any]:
    """The part a rejection points at: a video clip's track and frames (a track of its
    submission, frames inside the clip, first <= last), or an audio part's segment. 422
    `invalid_rejection` otherwise."""
    if segment_id is not None:
        segments = {s["segment_id"] for s in (unit.get("transcript") or {}).get("segments", [])}
        if segment_id not in segments or track_id is not None or frames is not None:
            raise AppError(
                "invalid_rejection",
                f"the submission has no segment {segment_id!r}",
                status_code=422,
            )
        return {"segment_id": segment_id}
    if track_id is None and frames is None:
        return {}
    clip = unit.get("clip")
    if clip is None or unit_media(unit) != "video":
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
    unit: dict[str, Any],
    annotation: Annotation | None,
    tracks: TrackAnnotation | None,
    transcript: Transcript | None = None,
) -> Answer:
    """A correction gives what the unit holds: shapes for an image, tracks for a video clip,
    a transcript for an audio part; 422 `wrong_media` otherwise."""
    given = {"image": annotation, "video": tracks, "audio": transcript}
    if given[unit_media(unit)] is None:
        raise AppError(
            "wrong_media",
            "an image is corrected with `annotation`, a video clip with `tracks`, an audio "
            "part with `transcript`",
            status_code=422,
        )
    return Answer(annotation or Annotation(), tracks, transcript)


def accepted_event(
    unit: dict[str, Any],
    reviewer_id: str | None,
    answer: Answer | None = None,
    contributors: Sequence[str] = (),
) -> ItemAccepted:
    """The unit accepted: its own work, or the final answer given."""
    final = answer if answer is not None else Answer.of(unit)
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
        annotation=final.annotation,
        contributors=tuple(contributors),
        clip=unit.get("clip"),
        tracks=final.tracks,
        transcript=final.transcript,
    )


def clip_frames(unit: dict[str, Any]) -> range:
    """The frames of the clip a unit is about."""
    return range(unit["clip"]["start"], unit["clip"]["stop"])


def overlap_key(unit: dict[str, Any]) -> str:
    """What a unit's overlaps are collected under: its item, or its item's clip."""
    clip = unit.get("clip")
    return clip_unit(unit["item_id"], clip["index"] if clip else None)


def credit_against(unit: dict[str, Any], answer: Answer) -> float:
    """How well a submission (`unit`) matches an answer: a correction, a settled dispute or a
    gold item's known answer; its shapes, a clip's tracks over the clip's frames, or an audio
    part's segments and their words."""
    if answer.transcript is not None:
        submitted = Transcript.model_validate(unit.get("transcript") or {})
        return transcript_score(submitted, answer.transcript, SEGMENT_MATCH)
    if answer.tracks is not None:
        submitted_tracks = TrackAnnotation.model_validate(unit.get("tracks") or {})
        return track_match_score(answer.tracks, submitted_tracks, clip_frames(unit))
    image = unit["image"]
    original = Annotation.model_validate(unit["annotation"])
    return match_score(answer.annotation, original, image["width"], image["height"])


def require_valid_answer(answer: Answer, project: ProjectUpserted, unit: dict[str, Any]) -> None:
    """422 where the answer would be refused as a submission of the unit's image, clip or
    part (a correction, a gold answer)."""
    width, height = unit["image"]["width"], unit["image"]["height"]
    if answer.transcript is not None:
        start, end = part_seconds(unit)
        require_valid_transcript(answer.transcript, project.audio, start, end)
    elif answer.tracks is not None:
        require_valid_tracks(answer.tracks, project.ontology, width, height, clip_frames(unit))
    else:
        require_valid_annotation(answer.annotation, project.ontology, width, height)


def part_seconds(unit: dict[str, Any]) -> tuple[float, float]:
    """Where an audio part runs, in seconds of its recording (a clip's ends are ms)."""
    return unit["clip"]["start"] / 1000, unit["clip"]["stop"] / 1000


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

    def merge(self, other: Tally) -> None:
        """Count `other`'s submissions too (another day of the same person, say)."""
        for name in ("submitted", "accepted", "rejected", "corrected", "appealed", "overturned"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.rework += other.rework
        self.seconds_worked += other.seconds_worked
        self.credit += other.credit
        self.agreement += other.agreement
        self.gold += other.gold

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


def merge_days(tallies: dict[tuple[str, ...], Tally]) -> dict[tuple[str, ...], Tally]:
    """Tallies keyed (..., day) summed over the days: keyed (..., "")."""
    merged: dict[tuple[str, ...], Tally] = {}
    for key, tally in tallies.items():
        whole = merged.setdefault((*key[:-1], ""), Tally())
        whole.merge(tally)
    return merged


def tally_by(subs: Iterable[dict[str, Any]], *keys: str) -> dict[tuple[str, ...], Tally]:
    """Submissions counted per value of `keys` (an annotator is one of a vendor: two vendors'
    people may share a name)."""
    tallies: dict[tuple[str, ...], Tally] = {}
    for sub in subs:
        tallies.setdefault(tuple(str(sub.get(k) or "") for k in keys), Tally()).add(sub)
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
    # Onboarding: training and exam tasks are paid by the hour, at the vendor's training rate.
    training_seconds: float = 0.0
    training_rate: float = 0.0

    @property
    def earnings(self) -> float:
        # Paid for all completed work: a rejection sends it back, it does not cancel the pay.
        paid = self.completed * self.piece_rate + self.training_seconds / 3600 * self.training_rate
        return round(paid, 4)

    @property
    def hourly(self) -> float | None:
        return (
            round(self.earnings / (self.seconds_worked / 3600), 2) if self.seconds_worked else None
        )


def statement(
    subs: Iterable[dict[str, Any]],
    piece_rates: dict[str, float],
    training_rates: dict[str, float] | None = None,
) -> list[StatementLine]:
    """An annotator's statement: per project and day, from their submissions (training and
    exam tasks apart: paid for their time, at `training_rates`, not by the piece)."""
    groups: dict[tuple[str, str], Tally] = {}
    training: dict[tuple[str, str], float] = {}
    for sub in subs:
        key = (sub["project_id"], sub["day"])
        if sub.get("stage", "production") != "production":
            training[key] = training.get(key, 0.0) + float(sub.get("seconds_worked", 0.0))
            groups.setdefault(key, Tally())
            continue
        groups.setdefault(key, Tally()).add(sub)
    rates = training_rates or {}
    return [
        StatementLine(
            project_id=project_id,
            day=day,
            completed=t.submitted,
            accepted=t.accepted + t.corrected,
            rejected=t.rejected,
            appealed=t.appealed,
            piece_rate=piece_rates.get(project_id, 0.0),
            seconds_worked=round(t.seconds_worked + training.get((project_id, day), 0.0), 1),
            training_seconds=round(training.get((project_id, day), 0.0), 1),
            training_rate=rates.get(project_id, 0.0),
        )
        for (project_id, day), t in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0]))
    ]


def effective_hourly(lines: Sequence[StatementLine]) -> float | None:
    seconds = sum(line.seconds_worked for line in lines)
    earned = sum(line.earnings for line in lines)
    return round(earned / (seconds / 3600), 2) if seconds else None


# ----- models' proposals ---------------------------------------------------------------------

ModelKey = tuple[str, str, str]  # project, organisation, model (`name@version`)
COUNTED = ("proposed", "kept", "edited", "deleted")


def proposal_outcomes(events: Iterable[TaskSubmitted]) -> dict[ModelKey, Counter[str]]:
    """What people did with each model's proposals, summed per project and model: kept as
    proposed, edited, or deleted (the rest). A task's first round only: a rework starts from
    the annotator's own submission, not from the proposals again."""
    tally: dict[ModelKey, Counter[str]] = defaultdict(Counter)
    for event in events:
        if event.rework:
            continue
        made = Counter((s.source.by, s.source.model) for s in event.annotation.shapes if s.source)
        for model, proposed in event.proposed.items():
            # A proposal copied counts once: kept, edited and deleted add up to `proposed`.
            kept = min(made["model", model], proposed)
            edited = min(made["model_edited", model], proposed - kept)
            tally[event.project_id, event.org_id, model].update(
                proposed=proposed, kept=kept, edited=edited, deleted=proposed - kept - edited
            )
    return tally


def model_stats(counts: dict[str, Any]) -> ModelStats:
    """A model's counters in a project as the API shows them, with the share of its
    proposals people had to correct (edit or delete)."""
    proposed, kept, edited, deleted = (int(counts.get(k, 0)) for k in COUNTED)
    return ModelStats(
        model=counts["model"],
        proposed=proposed,
        kept=kept,
        edited=edited,
        deleted=deleted,
        correction_rate=round((edited + deleted) / proposed, 4) if proposed else 0.0,
    )
