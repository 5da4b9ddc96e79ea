"""Request and response models of the worker API."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from aviary.contracts.shapes import Annotation, OntologyClass
from aviary.contracts.speech import AudioView, Transcript
from aviary.contracts.tracks import TrackAnnotation


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LeaseRef(Strict):
    lease_id: str = Field(min_length=1, max_length=100)


class SubmitBody(LeaseRef):
    # An image task's shapes; a video task's tracks, an audio task's transcript instead
    # (exactly one of them).
    annotation: Annotation | None = None
    tracks: TrackAnnotation | None = None
    transcript: Transcript | None = None
    # The ontology version the annotation was drawn against, if the tool says: a mismatch
    # with the task's is refused rather than stored under the wrong class meanings.
    ontology_version: int | None = Field(default=None, ge=1)


class SkipReason(StrEnum):
    UNREADABLE_IMAGE = "unreadable_image"
    NOT_APPLICABLE = "not_applicable"
    INAPPROPRIATE_CONTENT = "inappropriate_content"
    OTHER = "other"


class SkipBody(LeaseRef):
    reason: SkipReason
    comment: str = Field(default="", max_length=2000)


class ReworkComment(BaseModel):
    reviewer_id: str
    reason: str
    comment: str
    at: datetime
    # A video clip's: the track and frames (first, last) the reviewer pointed at.
    track_id: str | None = None
    frames: tuple[int, int] | None = None
    # An audio part's: the segment the reviewer pointed at.
    segment_id: str | None = None


class ImageView(BaseModel):
    url: str
    width: int
    height: int


class ClipView(BaseModel):
    """A video task's part of the video: frames start..stop-1 of the item's frames."""

    index: int
    start: int
    stop: int
    count: int  # clips the video has in all
    frames: int  # frames the video has in all


class VideoView(BaseModel):
    fps: float
    width: int
    height: int
    clip: ClipView
    # One URL a frame of the clip, in order: frame `clip.start + n` is `frames[n]`.
    frames: list[str]


class TaskView(BaseModel):
    """Everything the labeling UI needs to start: image, ontology, instructions, pay."""

    id: str
    lease_id: str
    lease_expires_at: datetime
    project_id: str
    item_id: str
    ontology_version: int
    classes: list[OntologyClass]
    instructions: str
    image: ImageView
    batch_id: str | None = None  # the item's batch: the page copies shapes within one
    rework: int
    comments: list[ReworkComment]
    piece_rate: float
    # The median handling time of the project so far; None before its first submission.
    estimated_seconds: float | None = None
    pre_annotation: Annotation | None = None  # the client's predictions, to start from
    # For rework: what was submitted last time, to fix rather than redraw.
    previous_annotation: Annotation | None = None
    # A video task: its clip and frames (`image` is then the clip's first frame); tracks are
    # submitted in the item's frame numbers.
    video: VideoView | None = None
    previous_tracks: TrackAnnotation | None = None
    # Imported tracks (another tool's, e.g. CVAT for video) cut to the clip, to start from.
    pre_tracks: TrackAnnotation | None = None
    # An audio task: its part of the recording (`image` is then the recording's waveform
    # picture); segments are submitted in seconds from the recording's start. `pre_transcript`
    # holds the segments voice-activity detection proposed (no text), to start from.
    audio: AudioView | None = None
    pre_transcript: Transcript | None = None
    previous_transcript: Transcript | None = None
    # Onboarding (docs/onboarding.md): a training task (feedback comes right after submit),
    # or an exam task (scored with the rest of the exam); `progress`: done and due of its
    # training round or exam attempt.
    stage: Literal["production", "training", "exam"] = "production"
    progress: tuple[int, int] | None = None


class LeaseView(BaseModel):
    id: str
    lease_id: str
    lease_expires_at: datetime
    # The task's media URLs live as long as the lease: fresh ones with each heartbeat (what
    # the page has not loaded yet: the picture, an audio part's recording).
    image_url: str | None = None
    audio_url: str | None = None


class SubmitResult(BaseModel):
    task_id: str
    submission_id: str


class WorkToday(BaseModel):
    annotator_id: str
    day: str
    worked_s: float
    limit_s: float
    remaining_s: float


class PersonDay(BaseModel):
    annotator_id: str
    worked_s: float
    limit_s: float  # today's limit for the person (limits are not kept by day)
    breaks: int = 0  # pauses of 10 minutes or more between two of their tasks that day


class WorkDay(BaseModel):
    day: str  # UTC, YYYY-MM-DD
    people: list[PersonDay]


class WorkDays(BaseModel):
    """A vendor's people's time worked day by day, against their daily limits."""

    vendor_id: str
    days: list[WorkDay]


class GroupLimitBody(Strict):
    daily_hours: float = Field(gt=0, le=24)


class AnnotatorLimitBody(Strict):
    """An annotator's group (e.g. "intern") and/or own daily hours (null: the group's)."""

    group: str | None = Field(default=None, min_length=1, max_length=64)
    daily_hours: float | None = Field(default=None, gt=0, le=24)


class VendorLimitsView(BaseModel):
    vendor_id: str
    default_daily_hours: float
    intern_daily_hours: float
    groups: dict[str, float]
    members: dict[str, str]
    annotators: dict[str, float]


class SkipView(BaseModel):
    """One skip of a flagged task: who passed on it, why, and when."""

    annotator_id: str
    reason: str
    comment: str
    at: datetime


class FlaggedTaskView(BaseModel):
    """A task skipped by `max_skips` people, waiting for an operator or its client: what it
    is (a picture to look at), why people passed on it, and where it may be sent."""

    id: str
    project_id: str
    project_name: str
    batch_id: str
    item_id: str
    org_id: str
    vendor_id: str
    rework: int
    skips: list[SkipView]
    image: ImageView  # a short-lived URL: the item's picture (a clip's first frame)
    clip: ClipView | None = None  # a video's clip or a recording's part
    allowed_vendors: list[str]  # where "send to a vendor" may send it: the project's vendors
    vendor_names: dict[str, str] = {}  # the project's vendors by name
    flagged_at: datetime | None = None


class FlaggedPage(BaseModel):
    tasks: list[FlaggedTaskView]


class ReturnBody(Strict):
    """Back to the pool, its skips cleared: to the vendor it had, or to `vendor_id` (one of
    the project's vendors)."""

    vendor_id: str | None = Field(default=None, min_length=1, max_length=100)


class DropBody(Strict):
    """Take the task's item out of its batch: every task of the item ends, and the batch's
    full delivery completes without it, listing it with this reason."""

    reason: str = Field(min_length=1, max_length=500)


class ReturnResult(BaseModel):
    id: str
    vendor_id: str  # whose pool it is in now


class DropResult(BaseModel):
    item_id: str
    batch_id: str
    tasks_ended: int  # the item's tasks that ended (its overlap copies, a video's clips)
