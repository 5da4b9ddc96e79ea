"""Request and response models of the reviewer, appeal and quality APIs."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from aviary.contracts.shapes import Annotation, OntologyClass
from aviary.contracts.speech import AudioView, Transcript
from aviary.contracts.tracks import TrackAnnotation


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RejectBody(Strict):
    reason: str = Field(min_length=1, max_length=200)
    comment: str = Field(min_length=1, max_length=5000)
    # A video clip: which track, and which frames (first, last), the rejection is about.
    track_id: str | None = Field(default=None, min_length=1, max_length=100)
    frames: tuple[int, int] | None = None
    # An audio part: which segment the rejection is about.
    segment_id: str | None = Field(default=None, min_length=1, max_length=100)


class CorrectBody(Strict):
    """The reviewer's final shapes (an image), tracks (a video clip) or transcript (an audio
    part): exactly one."""

    annotation: Annotation | None = None
    tracks: TrackAnnotation | None = None
    transcript: Transcript | None = None

    @model_validator(mode="after")
    def _one_answer(self) -> CorrectBody:
        given = [x for x in (self.annotation, self.tracks, self.transcript) if x is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of `annotation` (an image), `tracks` (a video clip) or "
                "`transcript` (an audio part)"
            )
        return self


class AppealBody(Strict):
    submission_id: str = Field(min_length=1, max_length=100)
    comment: str = Field(min_length=1, max_length=5000)


class AppealDecisionBody(Strict):
    decision: Literal["uphold", "overturn"]
    comment: str = Field(min_length=1, max_length=5000)


class MinimumWageBody(Strict):
    hourly: float = Field(gt=0, le=10_000)


class MinimumWage(BaseModel):
    """A vendor's minimum hourly wage; None until its admin sets one."""

    hourly: float | None


class ImageView(BaseModel):
    url: str
    width: int
    height: int


class OverlapView(BaseModel):
    submission_id: str
    annotator_id: str
    annotation: Annotation
    agreement: float | None
    tracks: TrackAnnotation | None = None  # a video clip's version
    transcript: Transcript | None = None  # an audio part's version
    # An audio part's version, word by word against the agreed text: ops `equal`,
    # `substitute`, `insert`, `delete` with the agreed and this version's words.
    word_diff: list[dict[str, str | list[str]]] | None = None


class ReviewView(BaseModel):
    """A submission to review, or a disputed item (or clip) with every annotator's version
    side by side (`kind` "consensus": `annotation` or `tracks` hold what they agreed on)."""

    id: str
    kind: Literal["submission", "consensus"]
    task_id: str
    item_id: str
    project_id: str
    annotator_id: str
    status: str
    annotation: Annotation
    overlaps: list[OverlapView] = []
    agreement: float | None = None
    classes: list[OntologyClass]
    reject_reasons: list[str]
    image: ImageView
    instructions: str = ""  # the project's, as the annotator saw them
    rework: int = 0
    lease_expires_at: datetime | None = None
    # For an appeal: the annotator's reasons, and the rejection being appealed.
    appeal_comment: str | None = None
    rejection: dict[str, str | list[int] | None] | None = None
    # A video clip: which frames, and the tracks drawn in them (`annotation` is empty); for a
    # disputed clip, the tracks they agreed on and how often their ids disagreed.
    clip: dict[str, int | float | str] | None = None
    tracks: TrackAnnotation | None = None
    frames: list[str] | None = None  # the clip's frames, in order, as URLs
    identity_switches: int | None = None
    # An audio part: the recording to play (from `audio.start` to `audio.end`) and the
    # segments (`annotation` is empty); for a disputed part, the segments they agreed on.
    audio: AudioView | None = None
    transcript: Transcript | None = None


class DecisionResult(BaseModel):
    id: str
    status: str
    credit: float | None = None


class SubmissionView(BaseModel):
    """What an annotator sees of their own submission: the decision and any appeal."""

    id: str
    task_id: str
    project_id: str
    status: str
    outcome: str | None
    rejection: dict[str, str | list[int] | None] | None
    appeal: dict[str, object] | None


class ScoreRow(BaseModel):
    key: str
    name: str | None = None  # a project's or vendor's name (an annotator's key is their name)
    # An annotator's row: their vendor (two vendors' people may share a name).
    vendor_id: str | None = None
    vendor_name: str | None = None
    day: str | None = None  # asked for per day: the day (UTC, YYYY-MM-DD) the row counts
    submitted: int
    accepted: int
    rejected: int
    corrected: int
    appealed: int
    overturned: int
    rework: int
    acceptance_rate: float | None
    agreement: float | None
    gold_accuracy: float | None
    hours_worked: float
    throughput_per_hour: float | None


class Scores(BaseModel):
    group_by: str
    since: datetime | None
    until: datetime | None
    rows: list[ScoreRow]


class StatementLineView(BaseModel):
    project_id: str
    day: str
    completed: int
    accepted: int
    rejected: int
    appealed: int
    piece_rate: float
    seconds_worked: float  # training included
    earnings: float
    hourly: float | None
    # Training and exam tasks (onboarding), paid by the hour at the vendor's training rate.
    training_seconds: float = 0.0
    training_rate: float = 0.0


class Statement(BaseModel):
    annotator_id: str
    vendor_id: str
    lines: list[StatementLineView]
    completed: int
    earnings: float
    seconds_worked: float
    effective_hourly: float | None
    minimum_wage: float | None
    below_minimum_wage: bool


class FairWorkRow(BaseModel):
    """One person's work and pay in a period: what their tasks paid per hour worked, and how
    their work was judged."""

    annotator_id: str
    completed: int
    hours_worked: float
    earnings: float
    effective_hourly: float | None
    below_minimum_wage: bool
    rejected: int
    appealed: int
    overturned: int


class FairWork(BaseModel):
    """A vendor's fair-work card: its people's pay per hour worked against its minimum wage,
    and rejection and appeal outcomes (GET /v1/vendors/{id}/fair-work)."""

    vendor_id: str
    minimum_wage: float | None
    people: list[FairWorkRow]


class WageAlert(BaseModel):
    annotator_id: str
    effective_hourly: float
    minimum_wage: float
    seconds_worked: float
