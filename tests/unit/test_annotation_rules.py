"""Unit tests for shared/domain/annotation_rules.py on masks and on shapes' provenance, and for
where a mask class may be used at all (an image project's ontology, not a video's tracks).

Boxes' rules are tested with dispatch's (tests/unit/test_dispatch_domain.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from aviary.contracts.ingest import ProjectCreate
from aviary.contracts.shapes import (
    Annotation,
    BoxShape,
    MaskShape,
    Ontology,
    OntologyClass,
    Rle,
    ShapeSource,
)
from aviary.contracts.tracks import Track
from services.ingest.domain import check_class_geometry, check_media
from shared.domain import masks
from shared.domain.annotation_rules import require_valid_annotation, validate_annotation
from shared.errors import AppError

CLASSES = (OntologyClass(id=1, name="car"), OntologyClass(id=5, name="road", kind="mask"))
ONTOLOGY = Ontology(classes=CLASSES)
WIDTH, HEIGHT = 64, 48


def blob(height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    mask = np.zeros((height, width), dtype=bool)
    mask[10:20, 30:50] = True
    return mask


def codes(*shapes: Any) -> list[tuple[int, str]]:
    errors = validate_annotation(Annotation(shapes=shapes), ONTOLOGY, WIDTH, HEIGHT)
    return [(e.index, e.code) for e in errors]


# ----- masks -----------------------------------------------------------------------------------


def test_a_mask_of_the_image_size_is_fine_in_either_form() -> None:
    assert (
        codes(
            MaskShape(class_id=5, rle=masks.encode(blob())),
            MaskShape(class_id=5, rle=masks.encode_uncompressed(blob())),
        )
        == []
    )


def test_a_mask_needs_a_mask_class_and_a_mask_class_a_mask() -> None:
    assert codes(
        MaskShape(class_id=1, rle=masks.encode(blob())),
        BoxShape(class_id=5, bbox=(1, 1, 5, 5)),
    ) == [(0, "wrong_kind"), (1, "wrong_kind")]


@pytest.mark.parametrize(
    "size", [(WIDTH, HEIGHT), (HEIGHT + 1, WIDTH), (HEIGHT, WIDTH - 1), (1, 1)]
)
def test_a_mask_has_the_image_size(size: tuple[int, int]) -> None:
    shape = MaskShape(class_id=5, rle=masks.encode(blob(*size)))
    errors = validate_annotation(Annotation(shapes=(shape,)), ONTOLOGY, WIDTH, HEIGHT)
    assert [(e.index, e.code) for e in errors] == [(0, "mask_size")]
    assert f"the image {WIDTH}x{HEIGHT}" in errors[0].message


@pytest.mark.parametrize(
    "counts",
    [
        (HEIGHT * WIDTH - 1,),  # one pixel short
        (10, HEIGHT * WIDTH),  # one too many
        (HEIGHT * WIDTH + 5, -5),  # a negative run
        "not an rle!",  # characters outside '0'..'o'
        "0P",  # ends in the middle of a number
    ],
)
def test_counts_cover_exactly_the_image(counts: str | tuple[int, ...]) -> None:
    shape = MaskShape(class_id=5, rle=Rle(size=(HEIGHT, WIDTH), counts=counts))
    assert codes(shape) == [(0, "invalid_rle")]


def test_an_empty_mask_is_refused() -> None:
    empty = masks.encode(np.zeros((HEIGHT, WIDTH), dtype=bool))
    assert codes(MaskShape(class_id=5, rle=empty)) == [(0, "empty_mask")]


def test_refusal_lists_every_mask_at_fault() -> None:
    good = MaskShape(class_id=5, rle=masks.encode(blob()))
    small = MaskShape(class_id=5, rle=masks.encode(blob(4, 4)))
    with pytest.raises(AppError) as caught:
        require_valid_annotation(Annotation(shapes=(good, small, good)), ONTOLOGY, WIDTH, HEIGHT)
    assert caught.value.status_code == 422
    details = caught.value.details
    assert isinstance(details, list) and [d["shape"] for d in details] == [1]


# ----- provenance ------------------------------------------------------------------------------


def box(source: ShapeSource | None) -> BoxShape:
    return BoxShape(class_id=1, bbox=(1, 1, 10, 10), source=source)


@pytest.mark.parametrize(
    "source",
    [
        None,  # drawn by hand
        ShapeSource(),
        ShapeSource(by="model", model="detector@3", confidence=0.42),
        ShapeSource(by="model", model="endpoint:acme"),  # an endpoint may give no confidence
        ShapeSource(by="model_edited", model="detector@3", confidence=0.9),
        ShapeSource(by="model_edited", model="detector@3"),
    ],
)
def test_sources_that_say_who_made_the_shape(source: ShapeSource | None) -> None:
    assert codes(box(source)) == []


@pytest.mark.parametrize(
    "source",
    [
        ShapeSource(by="model"),
        ShapeSource(by="model_edited", confidence=0.5),
        ShapeSource(by="human", model="detector@3"),
        ShapeSource(by="human", confidence=0.7),
    ],
)
def test_sources_that_do_not(source: ShapeSource) -> None:
    assert codes(box(source)) == [(0, "invalid_source")]


def test_a_mask_by_a_model_is_checked_for_both() -> None:
    shape = MaskShape(
        class_id=5, rle=masks.encode(blob(4, 4)), source=ShapeSource(by="model", confidence=0.5)
    )
    assert codes(shape) == [(0, "mask_size"), (0, "invalid_source")]


# ----- where mask classes may be ---------------------------------------------------------------


def test_an_image_project_may_have_mask_classes() -> None:
    project = ProjectCreate.model_validate(
        {
            "name": "roads",
            "ontology": {"classes": [c.model_dump() for c in CLASSES]},
            "vendors": [{"vendor_id": "org_vendor", "share": 1.0}],
        }
    )
    assert [c.kind for c in project.ontology.classes] == ["bbox", "mask"]
    check_class_geometry(project.ontology.classes)
    check_media("image", project.ontology.classes, ["coco", "yolo", "voc", "jsonl"])


def test_a_video_project_refuses_mask_classes() -> None:
    with pytest.raises(AppError) as caught:
        check_media("video", CLASSES, ["coco"])
    assert caught.value.code == "invalid_ontology"
    assert "road" in caught.value.message


def test_a_track_cannot_hold_a_mask() -> None:
    shape = MaskShape(class_id=5, rle=masks.encode(blob())).model_dump(mode="json")
    with pytest.raises(ValidationError, match="union_tag_invalid"):
        Track.model_validate({"track_id": "t1", "keyframes": [{"frame": 0, "shape": shape}]})
