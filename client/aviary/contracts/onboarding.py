"""New annotators: training with feedback, a qualification exam, skills (docs/onboarding.md).

A project that asks for onboarding (`training_tasks` or `exam_tasks` above 0) gives its
production tasks only to people admitted to it: by passing its exam (after its training), or
by their vendor admin's hand with a recorded reason. Training and exam tasks are the project's
gold items (known answers); a training submission is answered at once with what was right and
what was not, shape by shape (or word by word); an exam's is not. Skill follows each person's
gold scores and review outcomes; one that falls under `min_skill` sends the person back to
training.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from aviary.contracts.shapes import Annotation, Frozen

Stage = Literal["training", "exam", "waiting", "admitted"]


class OnboardingSettings(Frozen):
    """`training_tasks`: gold items done with feedback before the exam (0: no training).
    `exam_tasks`: gold items, none shown in training, scored together against `pass_mark`
    (0: training alone admits). A failed exam may be retried after `retry_after_hours`.
    `min_skill`: an admitted person whose skill falls below it goes back to training.
    `class_min_skill`: the hardest classes' minimums (class name: skill): a person whose
    skill in such a class is under it is not offered tasks whose pre-labels hold the class."""

    training_tasks: int = Field(default=0, ge=0, le=200)
    exam_tasks: int = Field(default=0, ge=0, le=100)
    pass_mark: float = Field(default=0.8, ge=0, le=1)
    retry_after_hours: float = Field(default=24.0, ge=0, le=24 * 30)
    min_skill: float | None = Field(default=None, ge=0, le=1)
    class_min_skill: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(
        default_factory=dict, max_length=50
    )

    @property
    def required(self) -> bool:
        return self.training_tasks > 0 or self.exam_tasks > 0


class ShapeFeedback(BaseModel):
    """One shape of a training task (or one track of a video clip's), compared with the known
    answer.

    `right`: drawn where the answer has it, the right class. `off`: the right class but not
    where the answer has it (`offset_px`: how far its centre is from the answer's). `wrong_class`:
    where the answer has a shape of `expected_class`. `missed`: in the answer, not drawn.
    `extra`: drawn, not in the answer. `guideline`: the class's guideline, where it went wrong."""

    verdict: Literal["right", "off", "wrong_class", "missed", "extra"]
    class_name: str | None = None  # as drawn (None: missed)
    expected_class: str | None = None  # as in the answer (None: extra)
    shape_index: int | None = None  # in the submission
    answer_index: int | None = None  # in the answer
    similarity: float | None = None  # 0..1 (a box's IoU)
    offset_px: float | None = None
    guideline: str | None = None
    # A video clip's track: its id as drawn (or in the answer, when missed), and the frames
    # (first, last) where it is not where the answer has it.
    track_id: str | None = None
    frames: tuple[int, int] | None = None


class WordFeedback(BaseModel):
    """One word of a training transcript against the known one."""

    verdict: Literal["right", "wrong", "missed", "extra"]
    word: str | None = None  # as written
    expected: str | None = None  # as in the answer


class Feedback(BaseModel):
    """What a training submission got right and wrong, shown right after it is submitted."""

    submission_id: str
    project_id: str
    stage: Literal["training"] = "training"
    score: float  # as a gold item is scored: 0..1
    right: int
    wrong: int
    shapes: list[ShapeFeedback] = Field(default_factory=list)
    words: list[WordFeedback] = Field(default_factory=list)
    answer: Annotation | None = None  # the known shapes, to show beside one's own
    instructions: str = ""  # the project's instructions, for what the guidelines leave out


class ExamAttempt(BaseModel):
    attempt: int
    scores: list[float]
    mean: float | None
    passed: bool | None  # None until every exam task is scored
    finished_at: datetime | None = None


class OnboardingRead(BaseModel):
    """One person's onboarding in one project (and vendor)."""

    project_id: str
    project_name: str = ""
    vendor_id: str
    annotator_id: str
    stage: Stage
    training_done: int
    training_required: int
    exam_tasks: int
    pass_mark: float = 0.8
    attempts: list[ExamAttempt] = Field(default_factory=list)
    retry_at: datetime | None = None  # a failed exam: when it may be taken again
    admitted: bool
    admitted_by: str | None = None  # "exam", or the vendor admin who admitted by hand
    reason: str | None = None
    skill: float | None = None
    class_skill: dict[str, float] = Field(default_factory=dict)
    held_classes: list[str] = Field(default_factory=list)  # under the class's minimum
    outcomes: int = 0  # gold scores and review decisions the skill is made of
    updated_at: datetime | None = None


class GatedProject(BaseModel):
    """A project that asks for onboarding, with its people's count as the caller sees them."""

    project_id: str
    name: str
    onboarding: OnboardingSettings
    people: int  # with a record: trained, examined or admitted
    admitted: int


class AdmitBody(BaseModel):
    """A vendor admin admits (or takes back) a person by hand, saying why."""

    admitted: bool = True
    reason: str = Field(min_length=3, max_length=500)
