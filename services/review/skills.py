"""Skill and admission: the rules of onboarding (docs/onboarding.md), pure.

Skill is a running mean of a person's outcomes in a project, recent ones weighing most (each
new outcome counts `WEIGHT`): a gold score (0..1, training, exam and production gold alike) or
a reviewer's decision (accepted 1, rejected 0). Per class, the share of the answer's shapes of
that class a gold submission got right. A person starts at no skill; the first outcome is the
skill.

Admission: training done (`training_tasks` scored), then the exam: `exam_tasks` scored, their
mean against `pass_mark`. A failed exam may be retried after `retry_after_hours`, with new
exam items where the project has them. An admitted person whose skill falls under `min_skill`
(with at least `MIN_OUTCOMES` outcomes since the admission) is sent back to training:
training counts from 0 and the exam is taken again.

A project's hardest classes may each ask for a minimum skill (`class_min_skill`): a person
whose skill in such a class is under it, once `MIN_CLASS_OUTCOMES` gold submissions showed
the class, is held from tasks whose pre-labels hold it (dispatch) until gold tasks (training,
or those mixed into production) bring the skill back up. A class skill not yet known holds
nobody: a project whose gold items lack the class would otherwise keep its tasks from all.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from aviary.contracts.onboarding import OnboardingSettings, ShapeFeedback, Stage
from shared.store.mongo import naive

WEIGHT = 0.2
# Outcomes since an admission before a falling skill may send the person back to training.
MIN_OUTCOMES = 5
# Gold submissions showing a class before its skill may hold the person from its tasks.
MIN_CLASS_OUTCOMES = 3


def running(skill: float | None, outcome: float) -> float:
    """The skill after one more outcome (0..1)."""
    outcome = min(max(outcome, 0.0), 1.0)
    return outcome if skill is None else skill + WEIGHT * (outcome - skill)


def class_outcomes(shapes: Iterable[ShapeFeedback]) -> dict[str, float]:
    """Per class of the answer: the share of its shapes drawn right."""
    seen: dict[str, list[bool]] = {}
    for f in shapes:
        if f.expected_class is not None:
            seen.setdefault(f.expected_class, []).append(f.verdict == "right")
    return {name: sum(rights) / len(rights) for name, rights in seen.items()}


def stage_of(state: dict[str, Any], settings: OnboardingSettings, now: datetime) -> Stage:
    """Where a person stands: admitted, in training, taking the exam, or waiting to retry."""
    if state.get("admitted"):
        return "admitted"
    if state.get("training_done", 0) < settings.training_tasks:
        return "training"
    retry_at = state.get("retry_at")
    if retry_at is not None and naive(retry_at) > naive(now):
        return "waiting"
    return "exam"


def after_exam(
    scores: list[float], settings: OnboardingSettings, now: datetime
) -> tuple[bool, float, datetime | None] | None:
    """(passed, mean, when a retry may start) once every exam task is scored, else None."""
    if len(scores) < settings.exam_tasks:
        return None
    mean = sum(scores[: settings.exam_tasks]) / settings.exam_tasks
    passed = mean >= settings.pass_mark
    retry_at = None if passed else now + timedelta(hours=settings.retry_after_hours)
    return passed, mean, retry_at


def fell_below(state: dict[str, Any], settings: OnboardingSettings) -> bool:
    """Whether an admitted person's skill has fallen under the project's minimum."""
    return (
        settings.min_skill is not None
        and bool(state.get("admitted"))
        and state.get("since_admission", 0) >= MIN_OUTCOMES
        and state.get("skill") is not None
        and state["skill"] < settings.min_skill
    )


def held_classes(state: dict[str, Any], settings: OnboardingSettings) -> list[str]:
    """The project's hard classes whose skill this person has shown to be under the minimum."""
    skill: dict[str, float] = state.get("class_skill", {})
    seen: dict[str, int] = state.get("class_outcomes", {})
    return sorted(
        name
        for name, bar in settings.class_min_skill.items()
        if seen.get(name, 0) >= MIN_CLASS_OUTCOMES and skill.get(name, 1.0) < bar
    )
