"""Redaction with an operator's own detector: an ONNX model, in the form operators already
give assist (docs/assist.md), that finds faces or number plates the Haar cascades miss
(faces turned away, small or dark ones, other countries' plates).

The operator configures one for the deployment (`redaction_model_dir`: a folder holding
`model.onnx` and `manifest.json`); projects choose it with `privacy.redaction.detector`
(`model`, or `both` with the cascades). The manifest is assist's (`ModelManifest`, task
`detect`); its `class_map` says which labels are faces and which plates:
`{"face": "face", "license_plate": "plate"}`. Labels mapped to anything else are ignored.

Loaded once, then run on every picture and frame of the projects that chose it; the model is
run once on a blank picture when loaded, so a broken model holds the service's start (it is
not ready, and says why) rather than failing the first upload.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from pydantic import ValidationError

from aviary.contracts.assist import ModelManifest
from shared.vision.detector_model import letterbox, open_session, read_boxes
from shared.vision.redaction import PAD, Kind, Picture, Region, merge_regions

MODEL_FILE = "model.onnx"
MANIFEST_FILE = "manifest.json"


class RedactionModelError(ValueError):
    """The configured model cannot be used: what is wrong, for the operator."""


class ModelFinder:
    """Faces and plates an ONNX detector finds; `detect` as `Detector.detect` (onnxruntime's
    sessions may run in several threads at once)."""

    def __init__(self, model: bytes, manifest: ModelManifest, threads: int = 1) -> None:
        if manifest.task != "detect":
            raise RedactionModelError(
                f"a redaction model detects; this one's task is {manifest.task}"
            )
        self.manifest = manifest
        self.kinds: Mapping[int, Kind] = _kinds(manifest)
        try:
            self._session = open_session(model, threads=threads, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own classes, none of them public
            raise RedactionModelError(f"onnxruntime cannot load the model: {exc}") from exc
        self._outputs = [o.name for o in self._session.get_outputs()]
        width, height = manifest.input_size
        try:
            self.detect(np.zeros((height, width, 3), np.uint8))
        except Exception as exc:
            raise RedactionModelError(f"the model failed on a blank picture: {exc}") from exc

    @classmethod
    def load(cls, folder: Path) -> ModelFinder:
        """The model and manifest in `folder`; RedactionModelError says what is missing."""
        try:
            raw = json.loads((folder / MANIFEST_FILE).read_text())
            manifest = ModelManifest.model_validate(raw)
            model = (folder / MODEL_FILE).read_bytes()
        except (OSError, ValueError, ValidationError) as exc:
            raise RedactionModelError(
                f"cannot read the redaction model in {folder}: {exc}"
            ) from exc
        return cls(model, manifest)

    def detect(self, image: Picture, *, rgb: bool = False) -> list[Region]:
        """The faces and plates in a BGR picture (RGB with `rgb`), padded as the cascades'
        are, overlapping ones of a kind merged."""
        pixels = image if rgb else cv2.cvtColor(image, cv2.COLOR_BGR2RGB).astype(np.uint8)
        height, width = pixels.shape[:2]
        tensor, box = letterbox(pixels, self.manifest.input_size)
        values = self._session.run(self._outputs, {"images": tensor})
        outputs: dict[str, Any] = dict(zip(self._outputs, values, strict=True))
        found: list[Region] = []
        for detection in read_boxes(outputs, box, self.manifest.score_threshold):
            kind = self.kinds.get(detection.label)
            if kind is None:
                continue
            region = _region(detection.box, kind).clipped(width, height)
            if region is not None:
                found.append(region)
        return merge_regions(found)


def _kinds(manifest: ModelManifest) -> dict[int, Kind]:
    kinds: dict[int, Kind] = {}
    for index, label in enumerate(manifest.labels):
        mapped = manifest.class_map.get(label)
        if mapped == "face":
            kinds[index] = "face"
        elif mapped == "plate":
            kinds[index] = "plate"
    if not kinds:
        raise RedactionModelError(
            "the manifest's class_map maps no label to face or plate: nothing would be blurred"
        )
    return kinds


def _region(box: tuple[float, float, float, float], kind: Kind) -> Region:
    """A box in pixels (floats) as a region covering every pixel it touches, padded."""
    x, y, w, h = box
    left, top = int(np.floor(x)), int(np.floor(y))
    right, bottom = int(np.ceil(x + w)), int(np.ceil(y + h))
    dx = int(np.ceil((right - left) * PAD[kind] / 2))
    dy = int(np.ceil((bottom - top) * PAD[kind] / 2))
    return Region(left - dx, top - dy, right - left + 2 * dx, bottom - top + 2 * dy, kind)
