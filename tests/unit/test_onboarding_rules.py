"""Onboarding's pure parts: training feedback shape by shape and word by word
(services/review/feedback.py), skill and the exam's decision (services/review/skills.py,
services/review/onboarding.py), the split of gold items between training and exams and the
pool's gate (services/dispatch)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from aviary.contracts.ingest import ProjectCreate
from aviary.contracts.onboarding import OnboardingSettings
from aviary.contracts.shapes import Annotation, Ontology
from aviary.contracts.speech import Transcript
from aviary.contracts.tracks import TrackAnnotation
from services.dispatch.onboarding import EXAM_SHARE, Onboarding, OnboardingRepository, for_exam
from services.dispatch.pool import TaskPool
from services.review import skills
from services.review.feedback import shape_feedback, track_feedback, word_feedback
from services.review.onboarding import _exam_scored, _hold, _learn, _maybe_retrain
from shared.events import OnboardingChanged
from tests.unit.test_grabcut import project as grabcut_project
from tests.unit.test_task_pool import T0, task

ONTOLOGY = Ontology.model_validate(
    {
        "classes": [
            {"id": 1, "name": "car", "guideline": "Box every car, mirrors included."},
            {"id": 2, "name": "person"},
        ]
    }
)
NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def boxes(*shapes: tuple[int, float, float, float, float]) -> Annotation:
    return Annotation.model_validate(
        {"shapes": [{"class_id": c, "bbox": [x, y, w, h]} for c, x, y, w, h in shapes]}
    )


def verdicts(answer: Annotation, submitted: Annotation) -> list[tuple[str, Any, Any]]:
    _, found = shape_feedback(answer, submitted, ONTOLOGY, 640, 480)
    return sorted((f.verdict, f.answer_index, f.shape_index) for f in found)


def test_each_shape_is_right_off_a_wrong_class_missed_or_extra() -> None:
    answer = boxes((1, 10, 10, 100, 50), (1, 300, 200, 80, 40), (2, 500, 100, 40, 90))
    submitted = boxes(
        (1, 12, 11, 98, 50),  # right
        (1, 340, 215, 80, 40),  # the second car, half off
        (1, 502, 101, 40, 88),  # the person, as a car
        (2, 10, 400, 30, 30),  # nothing there
    )
    assert verdicts(answer, submitted) == [
        ("extra", None, 3),
        ("off", 1, 1),
        ("right", 0, 0),
        ("wrong_class", 2, 2),
    ]
    score, found = shape_feedback(answer, submitted, ONTOLOGY, 640, 480)
    off = next(f for f in found if f.verdict == "off")
    assert off.offset_px == pytest.approx(((40**2) + (15**2)) ** 0.5, abs=0.1)
    assert off.guideline == "Box every car, mirrors included."
    right = next(f for f in found if f.verdict == "right")
    assert right.guideline is None and right.similarity is not None and right.similarity > 0.9
    assert 0 < score < 1  # one of three matched, one of four right


def test_nothing_drawn_where_something_was_is_all_missed() -> None:
    answer = boxes((1, 10, 10, 100, 50), (2, 300, 200, 40, 90))
    score, found = shape_feedback(answer, Annotation(), ONTOLOGY, 640, 480)
    assert score == 0.0 and [f.verdict for f in found] == ["missed", "missed"]
    assert [f.expected_class for f in found] == ["car", "person"]
    assert shape_feedback(Annotation(), Annotation(), ONTOLOGY, 640, 480) == (1.0, [])


def transcript(text: str) -> Transcript:
    return Transcript.model_validate(
        {"segments": [{"segment_id": "s1", "start": 0, "end": 2, "text": text}]}
    )


def test_words_are_right_wrong_missed_or_extra_case_and_punctuation_aside() -> None:
    score, words = word_feedback(
        transcript("Turn left at the next light."), transcript("turn right at next light, please")
    )
    assert [(w.verdict, w.word, w.expected) for w in words] == [
        ("right", "turn", "turn"),
        ("wrong", "right", "left"),
        ("right", "at", "at"),
        ("missed", None, "the"),
        ("right", "next", "next"),
        ("right", "light", "light"),
        ("extra", "please", None),
    ]
    assert score == pytest.approx(4 / 6)
    assert word_feedback(transcript(""), transcript(""))[0] == 1.0


def test_skill_follows_recent_outcomes_and_per_class_shares() -> None:
    skill = None
    for outcome in (1.0, 1.0, 0.0, 0.0, 0.0):
        skill = skills.running(skill, outcome)
    assert skill == pytest.approx(1.0 * 0.8**3)
    doc: dict[str, Any] = {}
    _, found = shape_feedback(
        boxes((1, 10, 10, 100, 50), (2, 300, 200, 40, 90)),
        boxes((1, 12, 11, 98, 50)),
        ONTOLOGY,
        640,
        480,
    )
    _learn(doc, 0.5, found)
    assert doc["class_skill"] == {"car": 1.0, "person": 0.0} and doc["outcomes"] == 1


def fresh(**fields: Any) -> dict[str, Any]:
    return {
        "round": 0,
        "training_done": 2,
        "attempts": [],
        "admitted": False,
        "skill": None,
        "outcomes": 0,
        **fields,
    }


def test_the_exam_is_decided_once_all_its_tasks_are_scored() -> None:
    settings = OnboardingSettings(training_tasks=2, exam_tasks=3, pass_mark=0.8)
    doc = fresh()
    assert not _exam_scored(doc, 1, 1.0, settings, NOW)
    assert not _exam_scored(doc, 1, 0.5, settings, NOW)
    assert skills.stage_of(doc, settings, NOW) == "exam"
    assert _exam_scored(doc, 1, 0.5, settings, NOW)  # mean 0.67: failed
    assert not doc["admitted"] and doc["retry_at"] == NOW + timedelta(hours=24)
    assert skills.stage_of(doc, settings, NOW) == "waiting"
    assert skills.stage_of(doc, settings, NOW + timedelta(hours=25)) == "exam"
    assert not _exam_scored(doc, 1, 1.0, settings, NOW)  # late: the attempt is decided
    for score in (1.0, 0.9, 0.8):
        decided = _exam_scored(doc, 2, score, settings, NOW)
    assert decided and doc["admitted"] and doc["admitted_by"] == "exam"
    assert [a["passed"] for a in doc["attempts"]] == [False, True]
    assert skills.stage_of(doc, settings, NOW) == "admitted"


def test_a_falling_skill_sends_an_admitted_person_back_to_training() -> None:
    settings = OnboardingSettings(training_tasks=2, exam_tasks=2, min_skill=0.6)
    doc = fresh(admitted=True, admitted_by="exam", since_admission=0, skill=0.9)
    for _ in range(skills.MIN_OUTCOMES - 1):
        _learn(doc, 0.0, ())
        assert not _maybe_retrain(doc, settings)  # too few outcomes since the admission
    _learn(doc, 0.0, ())
    assert doc["skill"] < 0.6 and _maybe_retrain(doc, settings)
    assert (doc["admitted"], doc["round"], doc["training_done"]) == (False, 1, 0)
    assert skills.stage_of(doc, settings, NOW) == "training"
    assert "back to training" in doc["reason"]
    assert not _maybe_retrain(doc, settings)  # not admitted: nothing to take back


def test_gold_items_split_for_good_between_training_and_exams() -> None:
    ids = [f"gld_{n:04d}" for n in range(2000)]
    share = sum(map(for_exam, ids)) / len(ids)
    assert abs(share - EXAM_SHARE) < 0.04
    assert [for_exam(i) for i in ids[:50]] == [for_exam(i) for i in ids[:50]]


def test_the_pool_keeps_gated_projects_for_admitted_people_and_never_pools_personal_tasks() -> None:
    gate = Onboarding(OnboardingRepository.__new__(OnboardingRepository))
    pool = TaskPool(gate.admits)
    gate._gated["p-gated"] = OnboardingSettings(training_tasks=1)
    pool.add(task("open", project_id="p-open", age_s=1))
    pool.add(task("gated", project_id="p-gated", age_s=2))
    pool.add(task("mine", project_id="p-gated", stage="training", age_s=3))
    assert "mine" not in pool
    assert pool.take("v1", "new", T0).entry.id == "open"  # type: ignore[union-attr]
    assert pool.take("v1", "new", T0) is None  # the gated task waits
    gate._admitted.add(("p-gated", "v1", "new"))
    assert pool.take("v1", "new", T0).entry.id == "gated"  # type: ignore[union-attr]


def test_a_hard_class_holds_a_person_once_gold_shows_their_skill_under_its_minimum() -> None:
    settings = OnboardingSettings(class_min_skill={"person": 0.7})
    project = grabcut_project(ontology=ONTOLOGY.model_dump(), onboarding=settings.model_dump())
    doc = fresh(admitted=True)
    missed_person = shape_feedback(
        boxes((1, 10, 10, 100, 50), (2, 500, 100, 40, 90)),
        boxes((1, 10, 10, 100, 50)),
        ONTOLOGY,
        640,
        480,
    )[1]
    for n in range(skills.MIN_CLASS_OUTCOMES):
        _learn(doc, 0.5, missed_person)
        held = _hold(doc, project)
        # Held only once the class was seen often enough to know the skill.
        assert held == (n == skills.MIN_CLASS_OUTCOMES - 1)
    assert (doc["held_classes"], doc["held_class_ids"]) == (["person"], [2])
    assert doc["class_skill"]["car"] == 1.0  # the easy class is not held
    right_person = shape_feedback(
        boxes((2, 500, 100, 40, 90)), boxes((2, 500, 100, 40, 90)), ONTOLOGY, 640, 480
    )[1]
    while doc["class_skill"]["person"] < 0.7:
        _learn(doc, 1.0, right_person)
        assert _hold(doc, project) == (doc["class_skill"]["person"] >= 0.7)
    assert doc["held_classes"] == [] and doc["held_class_ids"] == []


def test_the_pool_passes_over_tasks_whose_pre_labels_hold_a_class_a_person_is_held_from() -> None:
    gate = Onboarding(OnboardingRepository.__new__(OnboardingRepository))
    pool = TaskPool(gate.admits)
    person = {"shapes": [{"class_id": 2, "bbox": [1, 1, 5, 5]}]}
    car = {"shapes": [{"class_id": 1, "bbox": [1, 1, 5, 5]}]}
    # As the pool reads tasks from the database: the pre-labels left out, their classes kept.
    pool.add(task("people", project_id="p", labeled_classes=[2], age_s=4))
    pool.add(task("people-made-here", project_id="p", pre_annotation=person, age_s=3))
    pool.add(task("cars", project_id="p", pre_annotation=car, age_s=2))
    pool.add(task("unknown", project_id="p", age_s=1))
    gate.changed(
        OnboardingChanged(
            project_id="p",
            org_id="o",
            vendor_id="v1",
            annotator_id="new",
            admitted=True,
            held_classes=[2],
            changed_at=NOW,
        )
    )
    assert [pool.take("v1", "new", T0).entry.id for _ in range(2)] == ["cars", "unknown"]  # type: ignore[union-attr]
    assert pool.take("v1", "new", T0) is None  # the people task waits for someone else
    veteran = [pool.take("v1", "veteran", T0).entry.id for _ in range(2)]  # type: ignore[union-attr]
    assert veteran == ["people", "people-made-here"]


def test_a_class_minimum_must_name_a_class_of_the_ontology() -> None:
    body = {
        "name": "p",
        "ontology": ONTOLOGY.model_dump(),
        "vendors": [{"vendor_id": "v1", "share": 1.0}],
        "onboarding": {"class_min_skill": {"cyclist": 0.8}},
    }
    with pytest.raises(ValidationError, match="cyclist"):
        ProjectCreate.model_validate(body)
    body["onboarding"] = {"class_min_skill": {"person": 1.5}}
    with pytest.raises(ValidationError):
        ProjectCreate.model_validate(body)
    body["onboarding"] = {"class_min_skill": {"person": 0.8}}
    assert ProjectCreate.model_validate(body).onboarding.class_min_skill == {"person": 0.8}


def track(track_id: str, class_id: int, *boxes_at: tuple[int, float, float]) -> dict[str, Any]:
    """A track of 40 by 30 boxes at (frame, x, y) keyframes, interpolated between them."""
    keyframes = [
        {"frame": f, "shape": {"class_id": class_id, "bbox": [x, y, 40, 30]}}
        for f, x, y in boxes_at
    ]
    return {"track_id": track_id, "keyframes": keyframes}


def test_each_track_of_a_clip_is_right_off_in_some_frames_a_wrong_class_missed_or_extra() -> None:
    answer = TrackAnnotation.model_validate(
        {
            "tracks": [
                track("a-car", 1, (0, 10, 10), (9, 100, 10)),
                track("a-walker", 2, (0, 300, 200), (9, 300, 200)),
                track("a-parked", 1, (0, 500, 50), (9, 500, 50)),
                track("a-bus", 1, (0, 700, 300), (9, 700, 300)),
            ]
        }
    )
    submitted = TrackAnnotation.model_validate(
        {
            "tracks": [
                # follows the car for frames 0-2, then stays behind (from frame 4 on, less
                # than half of it overlaps)
                track("car", 1, (0, 10, 10), (2, 30, 10), (9, 30, 10)),
                track("walker", 1, (0, 301, 200), (9, 301, 200)),  # the walker, as a car
                track("ghost", 1, (0, 600, 400), (9, 600, 400)),  # nothing there
                track("bus", 1, (0, 700, 300), (9, 700, 300)),
            ]
        }
    )
    score, found = track_feedback(answer, submitted, ONTOLOGY, range(0, 10))
    by = {(f.verdict, f.track_id): f for f in found}
    assert sorted(by) == [
        ("extra", "ghost"),
        ("missed", "a-parked"),
        ("off", "car"),
        ("right", "bus"),
        ("wrong_class", "walker"),
    ]
    off = by[("off", "car")]
    assert off.frames == (4, 9)
    assert off.offset_px is not None and 0 < off.offset_px < 50
    assert off.guideline == "Box every car, mirrors included."
    assert by[("missed", "a-parked")].frames == (0, 9)
    assert (
        by[("wrong_class", "walker")].expected_class,
        by[("wrong_class", "walker")].class_name,
    ) == ("person", "car")
    assert 0 < score < 1
    perfect, all_right = track_feedback(answer, answer, ONTOLOGY, range(0, 10))
    assert perfect == 1.0 and {f.verdict for f in all_right} == {"right"}
    assert all(f.frames is None for f in all_right)
    # Per class, the share drawn right: the skill learns from a clip's tracks too.
    assert skills.class_outcomes(found) == {"car": 1 / 3, "person": 0.0}
