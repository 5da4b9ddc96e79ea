"""Unit tests for dispatch's pure rules (services/dispatch/domain.py)."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime
from typing import Any, Literal

import pytest

from services.dispatch.domain import (
    ShapeError,
    makes_tasks,
    refuse_invented_sources,
    route_vendor,
    submitted_event,
    task_id,
    validate_annotation,
)
from services.dispatch.leases.slots import Lease
from shared.errors import AppError
from shared.events import (
    Annotation,
    BoxShape,
    ImageRef,
    ItemIngested,
    ItemPrelabeled,
    Ontology,
    OntologyClass,
    ShapeSource,
    TaskSubmitted,
    VendorShare,
)

ONTOLOGY = Ontology(classes=(OntologyClass(id=1, name="car"), OntologyClass(id=2, name="person")))
WIDTH, HEIGHT = 640, 480


def annotation(*boxes: tuple[int, tuple[float, float, float, float]]) -> Annotation:
    return Annotation(shapes=tuple(BoxShape(class_id=c, bbox=b) for c, b in boxes))


def errors_of(*boxes: tuple[int, tuple[float, float, float, float]]) -> list[ShapeError]:
    return validate_annotation(annotation(*boxes), ONTOLOGY, WIDTH, HEIGHT)


def codes(*boxes: tuple[int, tuple[float, float, float, float]]) -> list[tuple[int, str]]:
    return [(e.index, e.code) for e in errors_of(*boxes)]


# ----- task_id -----------------------------------------------------------------------------------


def test_task_id_is_deterministic() -> None:
    assert task_id("itm_abc", 0) == task_id("itm_abc", 0)
    assert task_id("itm_abc", 0).startswith("tsk_")
    assert len(task_id("itm_abc", 0)) == len("tsk_") + 24


def test_task_id_is_distinct_per_slot_and_item() -> None:
    ids = {task_id(f"itm_{i}", slot) for i in range(50) for slot in range(10)}
    assert len(ids) == 500


def test_task_id_does_not_collide_on_concatenation() -> None:
    # "itm_1" slot 11 and "itm_11" slot 1 must not share an id.
    assert task_id("itm_1", 11) != task_id("itm_11", 1)


# ----- route_vendor ------------------------------------------------------------------------------


def test_split_follows_shares() -> None:
    vendors = (VendorShare(vendor_id="a", share=0.7), VendorShare(vendor_id="b", share=0.3))
    n = 20_000
    counts = Counter(route_vendor(vendors, f"itm_{i:06d}", 0) for i in range(n))
    assert set(counts) == {"a", "b"}
    assert abs(counts["a"] / n - 0.7) <= 0.02
    assert abs(counts["b"] / n - 0.3) <= 0.02


def test_split_follows_shares_across_slots_of_the_same_items() -> None:
    vendors = (VendorShare(vendor_id="a", share=0.25), VendorShare(vendor_id="b", share=0.75))
    counts = Counter(
        route_vendor(vendors, f"itm_{i:05d}", slot) for i in range(5_000) for slot in range(4)
    )
    assert abs(counts["a"] / 20_000 - 0.25) <= 0.02


def test_three_way_split_follows_shares() -> None:
    vendors = (
        VendorShare(vendor_id="a", share=0.5),
        VendorShare(vendor_id="b", share=0.3),
        VendorShare(vendor_id="c", share=0.2),
    )
    n = 20_000
    counts = Counter(route_vendor(vendors, f"item-{i}", 1) for i in range(n))
    for vendor, share in (("a", 0.5), ("b", 0.3), ("c", 0.2)):
        assert abs(counts[vendor] / n - share) <= 0.02


def test_route_is_stable_for_the_same_item_and_slot() -> None:
    vendors = (VendorShare(vendor_id="a", share=0.5), VendorShare(vendor_id="b", share=0.5))
    first = [route_vendor(vendors, f"itm_{i}", i % 3) for i in range(500)]
    again = [route_vendor(vendors, f"itm_{i}", i % 3) for i in range(500)]
    assert first == again
    assert set(first) == {"a", "b"}


def test_single_vendor_gets_everything() -> None:
    vendors = (VendorShare(vendor_id="only", share=1.0),)
    assert {route_vendor(vendors, f"itm_{i}", s) for i in range(2_000) for s in range(3)} == {
        "only"
    }


def test_single_vendor_with_partial_share_still_gets_everything() -> None:
    vendors = (VendorShare(vendor_id="only", share=0.4),)
    assert {route_vendor(vendors, f"itm_{i}", 0) for i in range(2_000)} == {"only"}


def test_no_vendors_is_an_error() -> None:
    with pytest.raises(ValueError):
        route_vendor((), "itm_1", 0)


# ----- validate_annotation -----------------------------------------------------------------------


def test_valid_boxes_have_no_errors() -> None:
    assert errors_of((1, (0, 0, 10, 10)), (2, (100.5, 200.25, 50, 60))) == []


def test_empty_annotation_has_no_errors() -> None:
    assert validate_annotation(Annotation(), ONTOLOGY, WIDTH, HEIGHT) == []


def test_box_covering_the_whole_image_is_fine() -> None:
    assert errors_of((1, (0, 0, WIDTH, HEIGHT))) == []


def test_box_touching_the_edges_exactly_is_fine() -> None:
    assert errors_of((1, (WIDTH - 10, 0, 10, 5)), (2, (0, HEIGHT - 7, 3, 7))) == []


def test_unknown_class() -> None:
    errors = errors_of((3, (0, 0, 10, 10)))
    assert [(e.index, e.code) for e in errors] == [(0, "unknown_class")]
    assert "3" in errors[0].message


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("position", range(4))
def test_non_finite_coordinates(bad: float, position: int) -> None:
    bbox = [10.0, 10.0, 20.0, 20.0]
    bbox[position] = bad
    assert codes((1, (bbox[0], bbox[1], bbox[2], bbox[3]))) == [(0, "not_finite")]


@pytest.mark.parametrize(
    "bbox", [(10, 10, 0, 10), (10, 10, 10, 0), (10, 10, -5, 10), (10, 10, 10, -5), (0, 0, 0, 0)]
)
def test_empty_boxes(bbox: tuple[float, float, float, float]) -> None:
    assert codes((1, bbox)) == [(0, "empty_box")]


@pytest.mark.parametrize(
    "bbox",
    [
        (-1, 10, 10, 10),  # left
        (10, -0.5, 10, 10),  # top
        (WIDTH - 10, 10, 10.5, 10),  # right
        (10, HEIGHT - 10, 10, 11),  # bottom
        (WIDTH, 10, 1, 1),  # wholly beyond the right edge
        (10, HEIGHT + 100, 5, 5),  # wholly below
        (-50, -50, WIDTH + 100, HEIGHT + 100),  # bigger than the image
    ],
)
def test_boxes_outside_the_image(bbox: tuple[float, float, float, float]) -> None:
    errors = errors_of((2, bbox))
    assert [(e.index, e.code) for e in errors] == [(0, "outside_image")]
    assert f"{WIDTH}x{HEIGHT}" in errors[0].message


def test_each_error_names_its_shape() -> None:
    result = codes(
        (1, (0, 0, 10, 10)),  # 0 ok
        (9, (0, 0, 10, 10)),  # 1 unknown class
        (1, (0, 0, math.nan, 10)),  # 2 not finite
        (2, (5, 5, 10, 10)),  # 3 ok
        (2, (5, 5, 0, 10)),  # 4 empty
        (1, (WIDTH - 1, 0, 2, 2)),  # 5 outside
        (2, (1, 1, 1, 1)),  # 6 ok
    )
    assert result == [
        (1, "unknown_class"),
        (2, "not_finite"),
        (4, "empty_box"),
        (5, "outside_image"),
    ]


def test_error_as_dict() -> None:
    [error] = errors_of((1, (0, 0, -1, 1)))
    assert error.as_dict() == {"shape": 0, "code": "empty_box", "message": error.message}


# ----- pre-labels --------------------------------------------------------------------------------

IMAGE = ImageRef(
    bucket="b",
    object_key="k",
    width=WIDTH,
    height=HEIGHT,
    format="jpeg",
    sha256="0" * 64,
    file_name="a.jpg",
)
Maker = Literal["human", "model", "model_edited"]


def by(who: Maker, model: str | None = None, at: float = 10) -> BoxShape:
    source = ShapeSource(by=who, model=model, confidence=0.5 if model else None)
    return BoxShape(class_id=1, bbox=(at, at, 20, 20), source=source)


def prelabeled_task(*shapes: BoxShape) -> dict[str, Any]:
    return {
        "_id": "tsk_1",
        "item_id": "itm_1",
        "project_id": "prj_1",
        "batch_id": "bat_1",
        "org_id": "org_1",
        "ontology_version": 1,
        "image": IMAGE.model_dump(mode="json"),
        "pre_annotation": Annotation(shapes=shapes).model_dump(mode="json"),
    }


def proposed_in(task: dict[str, Any], annotation: Annotation) -> dict[str, int]:
    lease = Lease.new(task, "ann", "vnd", datetime(2026, 1, 1, tzinfo=UTC), 300)
    event = submitted_event(task, lease, "sub_1", annotation, 12.0).payload()
    assert isinstance(event, TaskSubmitted)
    return event.proposed


def test_an_item_waiting_for_its_pre_labels_makes_tasks_only_when_they_come() -> None:
    ingested = ItemIngested(item_id="i", project_id="p", batch_id="b", org_id="o", image=IMAGE)
    assert makes_tasks(ingested)
    waiting = ingested.model_copy(update={"prelabel": True})
    assert not makes_tasks(waiting)
    assert makes_tasks(ItemPrelabeled.model_validate(waiting.model_dump()))
    # Pre-labels of an item that did not wait for them: its tasks exist already.
    assert not makes_tasks(ItemPrelabeled.model_validate(ingested.model_dump()))


def test_a_submission_counts_what_each_model_proposed_for_its_task() -> None:
    task = prelabeled_task(
        by("model", "cars@2"),
        by("model", "cars@2", 30),
        by("model", "people@1", 50),
        by("human"),  # a client's own pre-annotation: no model
    )
    kept = Annotation(shapes=(by("model", "cars@2"), by("model_edited", "people@1", 60)))
    assert proposed_in(task, kept) == {"cars@2": 2, "people@1": 1}
    assert proposed_in(prelabeled_task(), Annotation()) == {}
    assert proposed_in({**task, "pre_annotation": None}, Annotation()) == {}


def test_a_shape_may_not_name_a_model_that_proposed_nothing_for_the_task() -> None:
    task = prelabeled_task(by("model", "cars@2"))
    refuse_invented_sources(Annotation(shapes=(by("model", "cars@2"), by("human"))), task)
    refuse_invented_sources(Annotation(shapes=(by("model_edited", "cars@2"),)), task)
    for claimed in (by("model", "cars@3"), by("model_edited", "ghost@1"), by("model")):
        with pytest.raises(AppError) as refused:
            refuse_invented_sources(Annotation(shapes=(claimed,)), task)
        assert refused.value.code == "unknown_source" and refused.value.status_code == 422
    with pytest.raises(AppError):  # a task without pre-labels: no model at all
        refuse_invented_sources(Annotation(shapes=(by("model", "cars@2"),)), prelabeled_task())


def test_outlines_from_the_project_segmenters_are_the_persons_own_to_claim() -> None:
    task = prelabeled_task()
    refuse_invented_sources(Annotation(shapes=(by("model", "grabcut"),)), task)
    refuse_invented_sources(Annotation(shapes=(by("model", "sam@4"),)), task, "sam")
    refuse_invented_sources(Annotation(shapes=(by("model_edited", "sam@4"),)), task, "sam@2")
    with pytest.raises(AppError):  # another model than the project's segmenter
        refuse_invented_sources(Annotation(shapes=(by("model", "sam@4"),)), task, "other")
