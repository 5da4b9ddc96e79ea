"""Unit tests for review's pure rules (services/review/domain.py)."""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest

from services.review.domain import (
    AnnotatorRecord,
    StatementLine,
    Tally,
    check_rejection,
    effective_hourly,
    merge_days,
    model_stats,
    proposal_outcomes,
    route_submission,
    sample_point,
    sampling_rate,
    statement,
    tally_by,
)
from shared.errors import AppError
from shared.events import (
    Annotation,
    BoxShape,
    ImageRef,
    ReviewPolicy,
    ShapeSource,
    TaskSubmitted,
)

REASONS = ("missed_object", "wrong_class", "loose_box")


def submission_ids(n: int, seed: int = 1234) -> list[str]:
    rng = random.Random(seed)
    return [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(n)]


IDS = submission_ids(20_000)
# An annotator past the new-annotator phase, with a good record.
VETERAN = AnnotatorRecord(submitted=1_000, recent=(1.0,) * 20)


@pytest.mark.parametrize("rate", [0.0, 0.5, 1.0])
def test_auto_always_accepts(rate: float) -> None:
    policy = ReviewPolicy(mode="auto", rate=rate)
    assert {route_submission(policy, s, VETERAN) for s in IDS[:2_000]} == {"accept"}


@pytest.mark.parametrize("rate", [0.0, 0.5, 1.0])
def test_all_always_goes_to_a_human(rate: float) -> None:
    policy = ReviewPolicy(mode="all", rate=rate)
    assert {route_submission(policy, s, VETERAN) for s in IDS[:2_000]} == {"human"}


def test_default_policy_sends_everything_to_a_human() -> None:
    assert {route_submission(ReviewPolicy(), s, VETERAN) for s in IDS[:500]} == {"human"}


@pytest.mark.parametrize("rate", [0.1, 0.25, 0.5])
def test_sample_sends_the_rate_to_humans(rate: float) -> None:
    policy = ReviewPolicy(mode="sample", rate=rate)
    human = sum(route_submission(policy, s, VETERAN) == "human" for s in IDS)
    assert abs(human / len(IDS) - rate) <= 0.01


def test_sample_with_sequential_ids_also_follows_the_rate() -> None:
    policy = ReviewPolicy(mode="sample", rate=0.1)
    ids = [f"sub_{i:08d}" for i in range(20_000)]
    human = sum(route_submission(policy, s, VETERAN) == "human" for s in ids)
    assert abs(human / len(ids) - 0.1) <= 0.01


def test_same_submission_gets_the_same_decision() -> None:
    policy = ReviewPolicy(mode="sample", rate=0.5)
    first = [route_submission(policy, s, VETERAN) for s in IDS[:2_000]]
    again = [route_submission(policy, s, VETERAN) for s in IDS[:2_000]]
    assert first == again
    assert set(first) == {"accept", "human"}


def test_sample_rate_zero_accepts_everything() -> None:
    policy = ReviewPolicy(mode="sample", rate=0.0)
    assert {route_submission(policy, s, VETERAN) for s in IDS} == {"accept"}


def test_sample_rate_one_sends_everything_to_a_human() -> None:
    policy = ReviewPolicy(mode="sample", rate=1.0)
    assert {route_submission(policy, s, VETERAN) for s in IDS} == {"human"}


def test_sample_point_is_in_unit_interval() -> None:
    points = [sample_point(s) for s in IDS[:5_000]]
    assert all(0.0 <= p < 1.0 for p in points)
    assert min(points) < 0.01
    assert max(points) > 0.99


def test_raising_the_rate_only_adds_humans() -> None:
    """A submission sent to a human at rate r is also sent to a human at any higher rate."""
    low = ReviewPolicy(mode="sample", rate=0.1)
    high = ReviewPolicy(mode="sample", rate=0.3)
    for s in IDS[:5_000]:
        if route_submission(low, s, VETERAN) == "human":
            assert route_submission(high, s, VETERAN) == "human"


# ----- check_rejection ---------------------------------------------------------------------------


def test_valid_rejection_passes() -> None:
    check_rejection("wrong_class", "the car on the left is a truck", REASONS)
    check_rejection("loose_box", "x", list(REASONS))


@pytest.mark.parametrize("reason", ["", "other", "Wrong_Class", "wrong_class "])
def test_unknown_reason(reason: str) -> None:
    with pytest.raises(AppError) as info:
        check_rejection(reason, "a fine comment", REASONS)
    assert info.value.code == "unknown_reason"
    assert info.value.status_code == 422


def test_no_reason_is_allowed_when_the_list_is_empty() -> None:
    with pytest.raises(AppError) as info:
        check_rejection("wrong_class", "comment", ())
    assert info.value.code == "unknown_reason"


@pytest.mark.parametrize("comment", ["", " ", "   \t\n", "\u3000"])
def test_blank_comment_is_required(comment: str) -> None:
    with pytest.raises(AppError) as info:
        check_rejection("missed_object", comment, REASONS)
    assert info.value.code == "comment_required"
    assert info.value.status_code == 422


# ----- sampling by annotator --------------------------------------------------------------


def test_a_new_annotators_first_tasks_all_go_to_a_human() -> None:
    policy = ReviewPolicy(mode="sample", rate=0.0, new_annotator_tasks=10)
    for submitted in range(10):
        record = AnnotatorRecord(submitted=submitted)
        assert sampling_rate(policy, record) == 1.0
        assert route_submission(policy, IDS[submitted], record) == "human"
    assert sampling_rate(policy, AnnotatorRecord(submitted=10)) == 0.0


def test_the_rate_is_raised_for_an_annotator_whose_acceptance_dropped() -> None:
    policy = ReviewPolicy(mode="sample", rate=0.1, low_score=0.8, raised_rate=0.5)
    struggling = AnnotatorRecord(submitted=500, recent=(1.0, 0.0, 0.0, 1.0, 0.5, 1.0))
    assert struggling.recent_acceptance == pytest.approx(3.5 / 6)
    assert sampling_rate(policy, struggling) == 0.5
    human = sum(route_submission(policy, s, struggling) == "human" for s in IDS)
    assert abs(human / len(IDS) - 0.5) <= 0.01
    # Too few decisions to judge: the project rate.
    assert sampling_rate(policy, AnnotatorRecord(submitted=500, recent=(0.0,) * 4)) == 0.1


def test_consensus_policy_holds_every_submission_for_its_overlaps() -> None:
    policy = ReviewPolicy(mode="consensus")
    assert {route_submission(policy, s, VETERAN) for s in IDS[:100]} == {"consensus"}


# ----- figures ------------------------------------------------------------------------------


def sub(outcome: str | None, **extra: object) -> dict[str, object]:
    return {"outcome": outcome, "seconds_worked": 60.0, "rework": 0, **extra}


def test_tally_counts_a_correction_as_a_partial_accept_and_an_overturn_as_accepted() -> None:
    tally = Tally()
    for s in (
        sub("accepted", agreement=1.0),
        sub("corrected", credit=0.5, agreement=0.5),
        sub("rejected", rework=1, appeal={"status": "overturned"}),
        sub("rejected", appeal={"status": "upheld"}),
        sub(None, gold_score=0.75),
    ):
        tally.add(s)
    summary = tally.summary()
    assert summary["accepted"] == 2 and summary["rejected"] == 1 and summary["corrected"] == 1
    assert summary["appealed"] == 2 and summary["overturned"] == 1
    assert summary["acceptance_rate"] == pytest.approx((1 + 0.5 + 1) / 4)
    assert summary["agreement"] == 0.75 and summary["gold_accuracy"] == 0.75
    assert summary["rework"] == 1
    assert summary["throughput_per_hour"] == pytest.approx(5 / (300 / 3600))


def test_statement_pays_all_completed_work_per_project_and_day() -> None:
    subs = [
        {"project_id": "p1", "day": "2026-01-02", **sub("accepted")},
        {"project_id": "p1", "day": "2026-01-02", **sub("rejected")},
        {"project_id": "p2", "day": "2026-01-01", **sub("accepted")},
    ]
    lines = statement(subs, {"p1": 0.10, "p2": 0.50})
    assert [(line.project_id, line.day) for line in lines] == [
        ("p2", "2026-01-01"),
        ("p1", "2026-01-02"),
    ]
    p1 = lines[1]
    assert (p1.completed, p1.accepted, p1.rejected) == (2, 1, 1)
    assert p1.earnings == pytest.approx(0.20)  # the rejected task is paid too
    assert p1.hourly == pytest.approx(0.20 / (120 / 3600))
    assert effective_hourly(lines) == pytest.approx((0.20 + 0.50) / (180 / 3600), abs=0.01)
    assert effective_hourly([]) is None
    idle = StatementLine("p", "d", 0, 0, 0, 0, 1.0, 0.0)
    assert idle.hourly is None


# ----- models' proposals -------------------------------------------------------------------------

IMAGE = ImageRef(
    bucket="b", object_key="k", width=640, height=480, format="jpeg", sha256="0" * 64, file_name="a"
)


def shape(who: str, model: str | None = None) -> BoxShape:
    source = ShapeSource.model_validate({"by": who, "model": model})
    return BoxShape(class_id=1, bbox=(1, 1, 10, 10), source=source)


def submitted(proposed: dict[str, int], *shapes: BoxShape, rework: int = 0) -> TaskSubmitted:
    return TaskSubmitted(
        task_id="tsk_1",
        submission_id="sub_1",
        item_id="itm_1",
        project_id="prj_1",
        batch_id="bat_1",
        org_id="org_1",
        vendor_id="vnd_1",
        annotator_id="ann",
        ontology_version=1,
        image=IMAGE,
        annotation=Annotation(shapes=shapes),
        rework=rework,
        seconds_worked=10,
        proposed=proposed,
    )


def test_proposals_are_counted_kept_edited_or_deleted_per_project_and_model() -> None:
    outcomes = proposal_outcomes(
        [
            submitted(
                {"cars@2": 4, "people@1": 1},
                shape("model", "cars@2"),
                shape("model", "cars@2"),
                shape("model_edited", "cars@2"),
                shape("human"),  # drawn by hand: no model's
            ),
            submitted({"cars@2": 2}, shape("model_edited", "cars@2")),
            submitted({}, shape("human")),  # no pre-labels: nothing counted
        ]
    )
    assert outcomes == {
        ("prj_1", "org_1", "cars@2"): {"proposed": 6, "kept": 2, "edited": 2, "deleted": 2},
        ("prj_1", "org_1", "people@1"): {"proposed": 1, "kept": 0, "edited": 0, "deleted": 1},
    }


def test_a_copied_proposal_counts_once_and_a_rework_not_at_all() -> None:
    copied = submitted(
        {"cars@2": 2}, *[shape("model", "cars@2")] * 2, *[shape("model_edited", "cars@2")] * 2
    )
    assert proposal_outcomes([copied]) == {
        ("prj_1", "org_1", "cars@2"): {"proposed": 2, "kept": 2, "edited": 0, "deleted": 0}
    }
    assert proposal_outcomes([submitted({"cars@2": 2}, rework=1)]) == {}


def test_model_stats_show_the_share_people_had_to_correct() -> None:
    counts = {"model": "cars@2", "proposed": 8, "kept": 6, "edited": 1, "deleted": 1}
    stats = model_stats(counts)
    assert (stats.model, stats.proposed, stats.kept) == ("cars@2", 8, 6)
    assert stats.correction_rate == 0.25
    assert model_stats({"model": "idle@1"}).correction_rate == 0.0


def test_tallies_per_day_merge_into_the_whole_period() -> None:
    subs: list[dict[str, Any]] = [
        {"vendor_id": "v1", "day": "2026-12-01", "outcome": "accepted", "agreement": 1.0},
        {"vendor_id": "v1", "day": "2026-12-02", "outcome": "rejected", "seconds_worked": 30},
        {"vendor_id": "v1", "day": "2026-12-02", "appeal": {"status": "overturned"}},
        {"vendor_id": "v2", "outcome": "accepted", "gold_score": 0.5},  # before days were kept
    ]
    per_day = tally_by(subs, "vendor_id", "day")
    assert sorted(per_day) == [("v1", "2026-12-01"), ("v1", "2026-12-02"), ("v2", "")]
    whole = merge_days(per_day)
    assert sorted(whole) == [("v1", ""), ("v2", "")]
    v1 = whole[("v1", "")].summary()
    assert (v1["submitted"], v1["accepted"], v1["rejected"], v1["overturned"]) == (3, 2, 1, 1)
    assert v1["agreement"] == 1.0 and whole[("v2", "")].summary()["gold_accuracy"] == 0.5
    assert whole[("v1", "")].seconds_worked == 30
