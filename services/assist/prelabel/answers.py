"""A client endpoint's answer, read as strictly as a pre-annotation sent at upload.

The answer is JSON: `{"shapes": [...], "confidence": 0.8}`. Each shape is a shape as the API
takes them (docs/assist.md), optionally with its own `confidence` (0..1) in place of the
answer's; any `source` it gives is replaced by one naming the endpoint. Every shape is checked
against the project's ontology and image by the rules submissions meet
(`shared.domain.annotation_rules`): one bad shape refuses the answer, as it would refuse an
upload's pre-annotation. Shapes under the project's `min_confidence` are then left out.
"""

from __future__ import annotations

import json
import math
from typing import Any

from pydantic import TypeAdapter, ValidationError

from aviary.contracts.shapes import Annotation, Ontology, Shape, ShapeSource
from shared.domain.annotation_rules import validate_annotation

SHAPE = TypeAdapter(Shape)
MAX_SHAPES = 2000


class BadAnswer(ValueError):
    """The endpoint answered, but not with pre-labels this project can take."""


def _confidence(value: object, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadAnswer(f"{where}: confidence must be a number from 0 to 1")
    if not 0 <= value <= 1:
        raise BadAnswer(f"{where}: confidence must be from 0 to 1, not {value}")
    return float(value)


def read_answer(
    data: bytes,
    ontology: Ontology,
    width: int,
    height: int,
    model: str,
    min_confidence: float,
) -> list[Shape]:
    """The shapes to propose, each with a source naming `model`; BadAnswer otherwise."""
    try:
        answer: Any = json.loads(data)
    except ValueError as exc:
        raise BadAnswer(f"the answer is not JSON: {exc}") from exc
    if not isinstance(answer, dict) or not isinstance(answer.get("shapes"), list):
        raise BadAnswer('the answer is not an object with a "shapes" list')
    if len(answer["shapes"]) > MAX_SHAPES:
        raise BadAnswer(f"the answer holds {len(answer['shapes'])} shapes, at most {MAX_SHAPES}")
    overall = _confidence(answer.get("confidence"), "the answer")
    shapes: list[Shape] = []
    confidences: list[float | None] = []
    for index, raw in enumerate(answer["shapes"]):
        if not isinstance(raw, dict):
            raise BadAnswer(f"shape {index} is not an object")
        fields = {k: v for k, v in raw.items() if k not in ("confidence", "source")}
        own = _confidence(raw.get("confidence"), f"shape {index}")
        try:
            shapes.append(SHAPE.validate_python(fields))
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"])
            raise BadAnswer(f"shape {index} is malformed: {where}: {first['msg']}") from exc
        confidences.append(own if own is not None else overall)
    errors = validate_annotation(Annotation(shapes=tuple(shapes)), ontology, width, height)
    if errors:
        listed = "; ".join(f"shape {e.index}: {e.code}: {e.message}" for e in errors[:5])
        raise BadAnswer(f"{len(errors)} shape(s) do not fit the project: {listed}")
    return [
        shape.model_copy(
            update={"source": ShapeSource(by="model", model=model, confidence=confidence)}
        )
        for shape, confidence in zip(shapes, confidences, strict=True)
        if confidence is None or confidence >= min_confidence
    ]
