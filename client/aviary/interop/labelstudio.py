"""Label Studio's JSON export, read into a `ForeignSet`.

What is read: the **full JSON export** (Export → JSON: a list of tasks, each with `data`,
`annotations` and `predictions`). JSON-MIN (flat records without `annotations`) and CSV/TSV lose
the geometry's context and are refused with a message saying so. `path` is the `.json` file, or
a folder holding exactly one.

Per task:
- **The image** is the value in `data` under `image_key` when the caller names one, else the
  first value that looks like an image URL or path (its path, or the `d=` of a local-files URL,
  ends in an image suffix). Its name is the last part of that path, URL-decoded. For files
  uploaded to Label Studio (`/data/upload/<project>/<8 hex>-<name>`) the 8-hex-character prefix
  and its dash, which the upload adds, are stripped: `1a2b3c4d-street.jpg` → `street.jpg`.
  Names elsewhere (cloud storage, URLs) are kept as they are.
- **Which labels**: the latest annotation (by `updated_at`, else `created_at`, else position)
  that was not cancelled (`was_cancelled`); with none, the latest prediction, whose shapes get
  the model's `score` (the result's own, else the prediction's; kept only within 0..1). A task
  with neither is left out (an unlabelled task is not an empty image). Each choice is counted
  in `notes`.
- **The image size** is the results' `original_width`/`original_height` (they must agree);
  coordinates are percentages of it, turned into pixels. A result with `image_rotation` ≠ 0 is
  refused (its percentages are of a rotated view).

Results, by `type` (`<kind>labels`, or the bare tool `<kind>` with a `labels` result of the
same `id` naming it):
- `rectanglelabels` → bbox from `x`, `y`, `width`, `height` and `rotation` (Label Studio turns
  about the top-left corner: the box is moved so that it turns about its centre, as Aviary's do).
- `polygonlabels` → polygon from `points` ([x, y] percentages).
- `vectorlabels` (Label Studio 1.23 has no polyline tag; its `VectorLabels` tool draws paths)
  → polyline when open, polygon when `closed`; Bézier control points are dropped (the path is
  taken through its vertices, noted); a branching path (skeleton mode) is dropped and noted.
- `keypointlabels` → one result per point, all visible (Label Studio has no hidden points;
  Aviary's `hidden` choice is read with the config, below).
  Points are of one object when linked by `parentID`, by a `relation` result, or by ids
  `<prefix>k<n>` with one prefix (as Aviary's own export writes them). The object's label is,
  in this order: the label of the non-keypoint region (a rectangle, say) their `parentID`
  names, whose own geometry is then not imported (noted); the points' one shared label; else
  the `from_name` of their one KeyPointLabels control (noted), the points' labels being the
  keypoint names. Named keypoints are ordered by their names' first appearance per label
  (`ForeignSet.skeletons`), names an object lacks given as visibility 0 (x = y = 0). A point
  linked to nothing makes a one-keypoint shape alone (noted).
- `brushlabels` with `format: "rle"` → mask: Label Studio's bit-packed RLE (label-studio-
  converter's `brush.py`: a 32-bit count of values, a 5-bit word size, four 4-bit run-length
  sizes, then runs and literals) of an RGBA image the size of the original, row by row; the
  alpha channel (non-zero) is the mask, re-encoded as COCO's column-major uncompressed counts.
  An empty brush is dropped (noted).
- `choices` on its own → one classification per chosen value (the value is the label).
  `choices` and `textarea` results sharing a region's `id` (per-region controls) → attributes
  of that region's shape, named by the control's `from_name` (several choices in one control
  cannot be one attribute value: dropped, noted).
- `ellipselabels`, `bitmasklabels`, relations other than between keypoints, `textarea` on its
  own and any other type are dropped and counted in `notes` with their `from_name`.

A region with several labels keeps the first (noted); one with none is dropped (noted).
`from_name` names attributes and, failing all else, a keypoint object; otherwise it and
`to_name` appear in `notes` only. Drafts, comments and task metadata are not read.

**The labeling config** (`config`, else a `config.xml` beside the tasks file; XML with any
DOCTYPE or ENTITY declaration refused) gives each control (an element with `name` and
`toName`) its tag and Label/Choice values (labelstudio_config.py), and, in Aviary's own
export, the hints `aviaryClass`, `aviaryAttribute`, `aviaryType` and `aviaryRole`. With it:
- an attribute control's results (per region, or whole-image for a classification) are
  attributes named `aviaryAttribute`, a boolean's "true"/"false" a boolean; a whole-image one
  goes onto the task's classification of its `aviaryClass` (none chosen: dropped, noted);
- a keypoint with a choice of the `aviaryRole="hidden"` control has visibility 1;
- keypoints of one KeyPointLabels control with an `aviaryClass` and no region above them are
  an object of that class, their labels the keypoint names (a point linked to no other is an
  object of its own, noted);
- the keypoint names of an object whose points come from one KeyPointLabels control are, for
  its label, that control's labels in `model_index` order (else as written) when they hold the
  object's: a name not placed is then visibility 0 (x = y = 0);
- a result of a `perRegion` control (or the hidden choice) that is on no region is dropped
  (noted), not read as a classification; results of controls the config lacks are noted.
Everything else is read as without a config.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from aviary.contracts.shapes import AttributeValue
from aviary.interop.foreign import (
    ForeignFormatError,
    ForeignImage,
    ForeignSet,
    ForeignShape,
    Keypoint,
)
from aviary.interop.labelstudio_config import Control, read_config
from aviary.interop.labelstudio_regions import Pending, Region, RegionReader, Task
from aviary.interop.labelstudio_values import (
    control_value,
    dimension_of,
    entries_of,
    image_name,
    latest_entry,
    looks_like_image,
    result_score,
    score_of,
    tool_of,
    typed_value,
)

FORMAT = "labelstudio"
# Tools whose result is a region with geometry; "<tool>labels" is the same with its labels.
_TOOLS = frozenset({"rectangle", "polygon", "keypoint", "brush", "vector", "ellipse", "bitmask"})
_READ_TOOLS = frozenset({"rectangle", "polygon", "keypoint", "brush", "vector"})
_LABEL_KEYS = (*(f"{tool}labels" for tool in sorted(_TOOLS)), "labels")
# The labeling config read beside the tasks file when none is named.
CONFIG = "config.xml"


def read(path: Path, image_key: str | None = None, config: Path | None = None) -> ForeignSet:
    """The tasks of a Label Studio JSON export (a file, or a folder holding one), read with the
    project's labeling config: `config`, else a `config.xml` beside the tasks file, if any."""
    source = _export_file(path)
    if config is None and (source.parent / CONFIG).is_file():
        config = source.parent / CONFIG
    controls = read_config(config) if config is not None else None
    try:
        with source.open("rb") as stream:
            tasks = json.load(stream)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ForeignFormatError(f"not a JSON file ({exc})", source.name) from exc
    if not isinstance(tasks, list):
        raise ForeignFormatError(
            "a Label Studio JSON export is a list of tasks (Export → JSON)", source.name
        )
    reader = _Reader(source.name, image_key, controls)
    for index, task in enumerate(tasks):
        reader.task(index, task)
    found = reader.result()
    if config is not None and controls is not None:
        found.notes.insert(0, f"labeling config read: {config.name} ({len(controls)} controls)")
    return found


def _export_file(path: Path) -> Path:
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.suffix.lower() == ".json")
        if len(found) != 1:
            raise ForeignFormatError(
                f"expected one .json export in the folder, found {len(found)}", str(path)
            )
        return found[0]
    if not path.is_file():
        raise ForeignFormatError("no such file", str(path))
    return path


# ----- reading ---------------------------------------------------------------------------------


class _Reader:
    def __init__(self, file: str, image_key: str | None, config: dict[str, Control] | None) -> None:
        self.file = file
        self.image_key = image_key
        self.config = config
        self.unknown: Counter[str] = Counter()  # from_names the config has no control for
        self.tasks: list[Task] = []
        self.counts: Counter[str] = Counter()
        self.controls: Counter[tuple[str, str]] = Counter()  # (from_name, type) read
        self.dropped: Counter[tuple[str, str]] = Counter()  # (from_name, type) dropped
        self.models: Counter[str] = Counter()
        self.names: dict[str, list[str]] = {}  # keypoint names per label, first seen first
        self.seen: dict[str, int] = {}  # image name -> its task
        self.regions = RegionReader(config, self.counts, self.dropped, self.names)

    # --- a task ---

    def task(self, index: int, task: object) -> None:
        where = f"{self.file} task {index}"
        if not isinstance(task, dict):
            raise ForeignFormatError("a task is an object", where)
        if "data" not in task:
            if "annotations" not in task and "id" in task:
                raise ForeignFormatError(
                    "this looks like Label Studio's JSON-MIN export (no `data`, no"
                    " `annotations`); export as JSON instead",
                    where,
                )
            raise ForeignFormatError("a task has `data`", where)
        data = task["data"]
        if not isinstance(data, dict):
            raise ForeignFormatError("`data` is an object", where)
        name = self._image_name(data, where)
        if name in self.seen:
            raise ForeignFormatError(
                f"task {self.seen[name]} names the image {name!r} too: an image is imported"
                " once (two uploads of one file? stripping the upload prefix makes them one)",
                where,
            )
        self.seen[name] = index
        chosen = self._chosen(task, where)
        if chosen is None:
            self.counts["unlabelled"] += 1
            return
        entry, is_prediction = chosen
        results = entry.get("result", [])
        if not isinstance(results, list):
            raise ForeignFormatError("an annotation's `result` is a list", where)
        width, height = self._size(results, where)
        current = Task(name, width, height)
        score = score_of(entry.get("score")) if is_prediction else None
        self._results(current, results, is_prediction, score, where)
        self.tasks.append(current)

    def _image_name(self, data: dict[str, Any], where: str) -> str:
        if self.image_key is not None:
            value = data.get(self.image_key)
            if not isinstance(value, str) or not value:
                raise ForeignFormatError(f"`data` has no image under {self.image_key!r}", where)
        else:
            value = next((v for v in data.values() if looks_like_image(v)), None)
            if value is None:
                raise ForeignFormatError(
                    f"no image URL or path in `data` (keys: {', '.join(map(str, data))});"
                    " name its key with image_key",
                    where,
                )
        name = image_name(value)
        if not name:
            raise ForeignFormatError(f"the image {value!r} has no file name", where)
        return name

    def _chosen(self, task: dict[str, Any], where: str) -> tuple[dict[str, Any], bool] | None:
        """The annotation to read (latest not cancelled), else the latest prediction."""
        annotations = entries_of(task, "annotations", where)
        kept = [a for a in annotations if not a.get("was_cancelled", False)]
        self.counts["cancelled"] += len(annotations) - len(kept)
        if kept:
            if len(kept) > 1:
                self.counts["several"] += 1
            return latest_entry(kept), False
        predictions = entries_of(task, "predictions", where)
        if predictions:
            chosen = latest_entry(predictions)
            self.counts["predicted"] += 1
            self.models[str(chosen.get("model_version") or "unnamed")] += 1
            return chosen, True
        return None

    def _size(self, results: list[Any], where: str) -> tuple[int | None, int | None]:
        sizes = set()
        for j, result in enumerate(results):
            if isinstance(result, dict) and (
                "original_width" in result or "original_height" in result
            ):
                here = f"{where} result {j}"
                sizes.add(
                    (
                        dimension_of(result.get("original_width"), "original_width", here),
                        dimension_of(result.get("original_height"), "original_height", here),
                    )
                )
                rotation = result.get("image_rotation") or 0
                if not isinstance(rotation, int | float) or rotation % 360:
                    raise ForeignFormatError(
                        f"the image was rotated by {rotation}° in Label Studio: its"
                        " coordinates are of the rotated view, which Aviary does not read",
                        here,
                    )
        if len(sizes) > 1:
            found = ", ".join(f"{w}x{h}" for w, h in sorted(sizes))
            raise ForeignFormatError(f"the results disagree on the image size ({found})", where)
        if not sizes:
            return None, None
        width, height = sizes.pop()
        return width, height

    # --- its results ---

    def _results(
        self,
        task: Task,
        results: list[Any],
        predicted: bool,
        score: float | None,
        where: str,
    ) -> None:
        groups: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        for j, result in enumerate(results):
            if not isinstance(result, dict) or not isinstance(result.get("type"), str):
                raise ForeignFormatError(
                    "a result is an object with a `type`", f"{where} result {j}"
                )
            key = str(result["id"]) if result.get("id") is not None else f"#{j}"
            groups.setdefault(key, []).append((j, result))
            named = result.get("from_name")
            if self.config is not None and named is not None and str(named) not in self.config:
                self.unknown[str(named)] += 1
        entries: list[Region | ForeignShape] = []  # in the file's order
        relations: list[tuple[str, str, str]] = []  # (from_id, to_id, from_name)
        for key, group in groups.items():
            tools = [(j, r) for j, r in group if tool_of(r["type"]) in _TOOLS]
            if tools:
                region = self._region(key, tools[0], group, task, predicted, score, where)
                if region is not None:
                    entries.append(region)
            else:
                for j, result in group:
                    if result["type"] == "relation":
                        ends = (str(result.get("from_id")), str(result.get("to_id")))
                        relations.append((*ends, str(result.get("from_name", "?"))))
                        continue
                    entries += self._unattached(
                        task, result, score, predicted, f"{where} result {j}"
                    )
        self.regions.shapes(task, entries, relations)
        self._attach(task)

    def _region(
        self,
        key: str,
        first: tuple[int, dict[str, Any]],
        group: list[tuple[int, dict[str, Any]]],
        task: Task,
        predicted: bool,
        score: float | None,
        where: str,
    ) -> Region | None:
        j, result = first
        here = f"{where} result {j}"
        tool = tool_of(result["type"])
        from_name = str(result.get("from_name", "?"))
        if tool not in _READ_TOOLS:
            self.dropped[(from_name, result["type"])] += 1
            return None
        if task.width is None or task.height is None:
            raise ForeignFormatError(
                "a region without original_width/original_height: its percentages cannot"
                " become pixels",
                here,
            )
        value = result.get("value")
        if not isinstance(value, dict):
            raise ForeignFormatError("a result's `value` is an object", here)
        labels: list[str] = []
        attributes: dict[str, AttributeValue] = {}
        hidden = False
        for k, other in group:
            self.controls[(str(other.get("from_name", "?")), other["type"])] += 1
            other_value = other.get("value")
            if not isinstance(other_value, dict):
                raise ForeignFormatError("a result's `value` is an object", f"{where} result {k}")
            for label_key in _LABEL_KEYS:
                found = other_value.get(label_key)
                if isinstance(found, list):
                    labels += [str(x) for x in found if str(x) not in labels]
            if other is not result and tool_of(other["type"]) not in _TOOLS:
                hidden |= self._region_control(attributes, other, other_value)
        if not labels:
            self.counts["unlabelled_region"] += 1
            return None
        if len(labels) > 1:
            self.counts["several_labels"] += 1
        parent = result.get("parentID")
        return Region(
            id=key,
            tool=tool,
            from_name=from_name,
            value=value,
            labels=labels,
            attributes=attributes,
            parent=str(parent) if parent else None,
            score=result_score(result, score) if predicted else None,
            where=here,
            hidden=hidden and tool == "keypoint",
        )

    def _region_control(
        self, attributes: dict[str, AttributeValue], result: dict[str, Any], value: dict[str, Any]
    ) -> bool:
        """A per-region control (same `id` as a region) as an attribute: named by the config's
        hint (its value typed) or else by from_name. True for the config's hidden choice."""
        name = str(result.get("from_name", "?"))
        kind = result["type"]
        if kind == "labels":
            return False  # the region's label, taken above
        control = self.config.get(name) if self.config is not None else None
        if control is not None and control.role == "hidden":
            chosen = value.get("choices")
            return isinstance(chosen, list) and bool(chosen)
        found = control_value(kind, value)
        if found is None:
            self.dropped[(name, kind)] += 1
        elif control is not None and control.attribute is not None:
            attributes[control.attribute] = typed_value(found, control.type)
        else:
            attributes[name] = found
        return False

    def _unattached(
        self,
        task: Task,
        result: dict[str, Any],
        score: float | None,
        predicted: bool,
        where: str,
    ) -> list[ForeignShape]:
        """A result that is not a region's: image-level choices, the config's classification
        attributes, or something not kept."""
        name = str(result.get("from_name", "?"))
        value = result.get("value")
        control = self.config.get(name) if self.config is not None else None
        if control is not None and (control.per_region or control.role is not None):
            self.dropped[(name, result["type"])] += 1  # its region is gone
            return []
        if control is not None and control.attribute is not None and control.cls is not None:
            found = control_value(result["type"], value) if isinstance(value, dict) else None
            if found is None:
                self.dropped[(name, result["type"])] += 1
            else:
                self.controls[(name, result["type"])] += 1
                typed = typed_value(found, control.type)
                task.class_attributes.append((control.cls, control.attribute, typed))
            return []
        if result["type"] == "choices" and isinstance(value, dict):
            chosen = value.get("choices")
            if not isinstance(chosen, list):
                raise ForeignFormatError("a choices result has a list of `choices`", where)
            self.controls[(name, "choices")] += 1
            own = result_score(result, score) if predicted else None
            return [ForeignShape(str(label), "classification", score=own) for label in chosen]
        self.dropped[(name, result["type"])] += 1
        return []

    def _attach(self, task: Task) -> None:
        """Each classification attribute onto the task's (first) classification of its class."""
        chosen = {
            s.label: i
            for i, s in reversed(list(enumerate(task.shapes)))
            if isinstance(s, ForeignShape) and s.kind == "classification"
        }
        for label, name, value in task.class_attributes:
            at = chosen.get(label)
            if at is None:
                self.counts["unchosen"] += 1
                continue
            shape = task.shapes[at]
            assert isinstance(shape, ForeignShape)
            task.shapes[at] = replace(shape, attributes={**shape.attributes, name: value})

    # --- the set ---

    def result(self) -> ForeignSet:
        images = [
            ForeignImage(t.name, t.width, t.height, tuple(self._final(s) for s in t.shapes))
            for t in self.tasks
        ]
        skeletons = {label: tuple(names) for label, names in self.names.items()}
        return ForeignSet(FORMAT, images, skeletons, self._notes())

    def _final(self, shape: Pending) -> ForeignShape:
        if isinstance(shape, ForeignShape):
            return shape
        missing: Keypoint = (0.0, 0.0, 0)
        keypoints = tuple(shape.points.get(n, missing) for n in self.names[shape.label])
        return ForeignShape(
            shape.label,
            "keypoints",
            keypoints=keypoints,
            attributes=shape.attributes,
            score=shape.score,
        )

    def _notes(self) -> list[str]:
        c = self.counts
        notes = [
            text
            for count, text in (
                (c["unlabelled"], "tasks with no annotation and no prediction, left out"),
                (c["cancelled"], "cancelled (skipped) annotations, not read"),
                (c["several"], "tasks with several annotations: the latest was read"),
                (c["predicted"], "tasks with no annotation: their latest prediction was read"),
                (c["unlabelled_region"], "regions without a label, dropped"),
                (c["several_labels"], "regions with several labels: the first was kept"),
                (
                    c["consumed"],
                    "regions naming the object of their keypoints (parentID), not imported"
                    " as shapes themselves",
                ),
                (
                    c["lone_points"],
                    "keypoints linked to no other region, each read as a one-keypoint shape",
                ),
                (
                    c["lone_class_points"],
                    "keypoints linked to no other point, each read as an object of its"
                    " control's class with that one point placed",
                ),
                (
                    c["control_named"],
                    "keypoint objects named by their control's from_name (no region names them;"
                    " their points' labels are the keypoint names)",
                ),
                (c["relations"], "relations between keypoints, read as links of one object"),
                (c["brush_format"], "brushes not in Label Studio's RLE format, dropped"),
                (c["empty_brush"], "empty brushes, dropped"),
                (c["bezier"], "vector paths with Bézier curves, read through their vertices"),
                (c["branching"], "branching vector paths (skeleton mode), dropped"),
                (
                    c["unchosen"],
                    "attributes of a classification the task does not choose, dropped",
                ),
            )
            if count
            for text in [f"{count} {text}"]
        ]
        if self.models:
            used = ", ".join(f"{m} ({n})" for m, n in sorted(self.models.items()))
            notes.append(f"predictions of models: {used}; their scores kept where within 0..1")
        if self.controls:
            read_ = ", ".join(f"{n!r} ({t}: {k})" for (n, t), k in sorted(self.controls.items()))
            notes.append(f"controls read (from_name): {read_}")
        if self.dropped:
            gone = ", ".join(f"{n!r} ({t}: {k})" for (n, t), k in sorted(self.dropped.items()))
            notes.append(f"results of these controls cannot be kept, dropped: {gone}")
        if self.unknown:
            odd = ", ".join(f"{n!r} ({k})" for n, k in sorted(self.unknown.items()))
            notes.append(f"results of controls the labeling config does not have: {odd}")
        return notes
