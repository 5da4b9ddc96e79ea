"""JSONL: `jsonl/annotations.jsonl`, one object per item with every shape of every kind.

Shapes are written as the contracts have them (a mask's RLE in the form it came in), with
their `source` where one was recorded: a shape without one was drawn by hand. A turned box has
its `rotation`; a smooth line its `smooth` flag and, beside the points it was drawn through,
the `curve` as points.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aviary.contracts.shapes import PolylineShape
from services.export.formats.model import PackageItem, PackageSpec
from services.export.formats.zipsink import ZipSink

PATH = "jsonl/annotations.jsonl"
_JSON = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


class JsonlFormat:
    """Lines go to a part file as items come; `finish` streams it into the zip."""

    def __init__(self, sink: ZipSink, parts: Path, spec: PackageSpec) -> None:
        self._people = spec.include_people
        self._names = {c.id: c.name for c in spec.ontology.classes}
        self._path = parts / "annotations.jsonl.part"
        self._part = self._path.open("wb", buffering=1 << 20)

    def record(self, item: PackageItem) -> dict[str, Any]:
        shapes = []
        for shape in item.shapes:
            entry = shape.model_dump(mode="json")
            if entry.get("source") is None:
                entry.pop("source", None)  # drawn by hand: as deliveries before sources were
            # A box that does not turn and a straight line read as before either existed.
            if entry.get("rotation") == 0:
                del entry["rotation"]
            if entry.get("smooth") is False:
                del entry["smooth"]
            elif isinstance(shape, PolylineShape) and shape.smooth:
                entry["curve"] = [list(p) for p in shape.line()]  # the curve, as points
            entry["class_name"] = self._names.get(shape.class_id)  # None: not in this ontology
            shapes.append(entry)
        record: dict[str, Any] = {
            "item_id": item.item_id,
            "file_name": item.file_name,
            "width": item.width,
            "height": item.height,
            "format": item.format,
            "ontology_version": item.ontology_version,
            "accepted_at": item.accepted_at,
            "shapes": shapes,
        }
        if self._people:
            record["annotator_id"] = item.annotator_id
            record["reviewer_id"] = item.reviewer_id
        return record

    def add(self, item: PackageItem, file_name: str) -> None:
        """Every shape, whatever its kind: None (all written)."""
        self._part.write((_JSON.encode(self.record(item)) + "\n").encode())

    def finish(self, sink: ZipSink) -> None:
        self._part.close()
        with sink.stream(PATH, self._path.stat().st_size) as out:
            out.copy_from(self._path)

    def abort(self) -> None:
        self._part.close()
