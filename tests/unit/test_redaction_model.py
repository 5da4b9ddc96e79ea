"""An operator's redaction model (shared/vision/redaction_model.py): a real onnxruntime
session over a tiny detector made here (aviary_devkit/tiny_onnx.py: it finds the bright part
of a picture, label 0), read as the cascades' regions are, and refused with a reason when it
cannot be used."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from aviary.contracts.assist import ModelManifest
from aviary_devkit.tiny_onnx import detector, identity, manifest
from shared.vision.redaction import Detector, Finders, Region, redact_jpeg
from shared.vision.redaction_model import ModelFinder, RedactionModelError
from tests.unit.test_redaction import decode, jpeg

PATCH = (200, 300, 240, 160)  # left, top, width, height of the bright patch


def faces_model(**fields: Any) -> ModelManifest:
    return ModelManifest.model_validate(
        manifest("faces", **({"class_map": {"thing": "face"}} | fields))
    )


def dark_with_a_bright_patch() -> np.ndarray:
    """A dark BGR picture, 640x480, with a bright, finely patterned patch at PATCH (the tiny
    model's "thing"; no face for the cascades)."""
    picture = np.full((480, 640, 3), 40, np.uint8)
    x, y, w, h = PATCH
    rows, cols = np.indices((h, w))
    pattern = np.where((rows // 4 + cols // 4) % 2 == 0, 255, 190).astype(np.uint8)
    picture[y : y + h, x : x + w] = pattern[:, :, None]
    return picture


def detail(picture: np.ndarray) -> float:
    x, y, w, h = PATCH
    grey = cv2.cvtColor(picture[y : y + h, x : x + w], cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def test_the_model_finds_its_label_as_a_face_around_the_patch() -> None:
    finder = ModelFinder(detector(), faces_model())
    [region] = finder.detect(dark_with_a_bright_patch())
    x, y, w, h = PATCH
    assert region.kind == "face"
    assert region.x <= x and region.y <= y and region.right >= x + w and region.bottom >= y + h
    # The model sees 64x64 (a pixel of it is 10 of these): the box is close, padded.
    assert region.w <= w * 1.15 + 2 * 10 + 2 and region.h <= h * 1.15 + 2 * 10 + 2
    rgb = cv2.cvtColor(dark_with_a_bright_patch(), cv2.COLOR_BGR2RGB).astype(np.uint8)
    assert finder.detect(rgb, rgb=True) == [region]


def test_labels_not_mapped_to_a_face_or_plate_and_weak_ones_are_left_out() -> None:
    # The tiny model's second detection ("corner", scored 0.2) is under the threshold; mapped
    # to a plate and with the threshold under it, it is a plate.
    assert {
        r.kind for r in ModelFinder(detector(), faces_model()).detect(dark_with_a_bright_patch())
    } == {"face"}
    both = faces_model(class_map={"thing": "face", "corner": "plate"}, score_threshold=0.1)
    kinds = [r.kind for r in ModelFinder(detector(), both).detect(dark_with_a_bright_patch())]
    assert sorted(kinds) == ["face", "plate"]
    only_cars = faces_model(class_map={"thing": "face"}, score_threshold=0.99)
    assert ModelFinder(detector(), only_cars).detect(dark_with_a_bright_patch()) == []


def test_the_model_and_the_cascades_together_blur_what_either_finds() -> None:
    picture = dark_with_a_bright_patch()
    before = detail(picture)
    alone = redact_jpeg(jpeg(picture), detector=Detector())
    assert alone.regions == () and detail(decode(alone.jpeg)) > 0.5 * before
    both = Finders([Detector(), ModelFinder(detector(), faces_model())])
    result = redact_jpeg(jpeg(picture), detector=both)
    assert [r.kind for r in result.regions] == ["face"]
    assert detail(decode(result.jpeg)) < 0.05 * before


@pytest.mark.parametrize(
    ("model", "fields", "reason"),
    [
        (detector(), {"task": "segment"}, "task is segment"),
        (detector(), {"class_map": {"thing": "car"}}, "maps no label to face or plate"),
        (b"not a model", {}, "cannot load"),
        (identity("images"), {}, "failed on a blank picture"),
    ],
)
def test_a_model_that_cannot_be_used_is_refused_with_its_reason(
    model: bytes, fields: dict[str, Any], reason: str
) -> None:
    with pytest.raises(RedactionModelError, match=reason):
        ModelFinder(model, faces_model(**fields))


def test_a_model_is_loaded_from_its_folder(tmp_path: Path) -> None:
    with pytest.raises(RedactionModelError, match="cannot read"):
        ModelFinder.load(tmp_path)
    (tmp_path / "model.onnx").write_bytes(detector())
    (tmp_path / "manifest.json").write_text(json.dumps({"name": "faces"}))
    with pytest.raises(RedactionModelError, match="cannot read"):
        ModelFinder.load(tmp_path)  # the manifest lacks its task and licence
    (tmp_path / "manifest.json").write_text(
        json.dumps(manifest("faces", class_map={"thing": "face"}))
    )
    found = ModelFinder.load(tmp_path).detect(dark_with_a_bright_patch())
    assert [r.kind for r in found] == ["face"]
    assert all(isinstance(r, Region) for r in found)
