"""Label Studio's regions to shapes: a task's geometry results (rectangles, polygons, vector
paths, brushes) and its keypoints, grouped into objects (by parentID, relations, or Aviary's
`<prefix>k<n>` ids) and named (labelstudio.py reads the tasks; its docstring has the rules)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aviary.contracts.shapes import AttributeValue, Rle, turned_box
from aviary.interop.brush import decode_brush
from aviary.interop.foreign import (
    ForeignFormatError,
    ForeignKind,
    ForeignShape,
    Keypoint,
    coco_counts,
)
from aviary.interop.labelstudio_config import Control
from aviary.interop.labelstudio_values import percent_of, points_of

# Aviary's export names a keypoint `s<shape>k<keypoint>`: one object per shape.
KEYPOINT_ID = re.compile(r"(.+)k[0-9]+")


@dataclass
class Region:
    """One region of an annotation: its geometry result, with the per-region controls that
    share its `id`."""

    id: str
    tool: str
    from_name: str
    value: dict[str, Any]
    labels: list[str]
    attributes: dict[str, AttributeValue]
    parent: str | None
    score: float | None
    where: str
    hidden: bool = False  # a keypoint with the config's hidden choice: visibility 1


@dataclass
class NamedKeypoints:
    """An object whose keypoints are named: ordered once every object of its label is known."""

    label: str
    points: dict[str, Keypoint]
    attributes: dict[str, AttributeValue]
    score: float | None


Pending = ForeignShape | NamedKeypoints


@dataclass
class Task:
    name: str
    width: int | None
    height: int | None
    shapes: list[Pending] = field(default_factory=list)
    # whole-image attribute results of classifications: (class label, name, value)
    class_attributes: list[tuple[str, str, AttributeValue]] = field(default_factory=list)


class RegionReader:
    """Shapes from a task's regions. Counts what it notes in the reader's counters, and the
    keypoint names per label in `names` (shared with the reader, which orders them last)."""

    def __init__(
        self,
        config: dict[str, Control] | None,
        counts: Counter[str],
        dropped: Counter[tuple[str, str]],
        names: dict[str, list[str]],
    ) -> None:
        self.config = config
        self.counts = counts
        self.dropped = dropped
        self.names = names

    def shapes(
        self,
        task: Task,
        entries: list[Region | ForeignShape],
        relations: list[tuple[str, str, str]],
    ) -> None:
        regions = {e.id: e for e in entries if isinstance(e, Region)}
        objects, owners = self._objects(regions, relations)
        consumed = {owner.id for owner in owners.values()}
        for entry in entries:
            if isinstance(entry, ForeignShape):
                task.shapes.append(entry)
            elif entry.id in consumed:
                continue
            elif entry.tool == "keypoint":
                found = objects[entry.id]
                if found[0] is entry:  # the object, once, at its first point
                    self._keypoints(task, found, owners.get(entry.id))
            elif (shape := self._geometry(task, entry)) is not None:
                task.shapes.append(shape)
        self.counts["consumed"] += len(consumed)

    def _objects(
        self, regions: dict[str, Region], relations: list[tuple[str, str, str]]
    ) -> tuple[dict[str, list[Region]], dict[str, Region]]:
        """Keypoints by the object they belong to (each point's id -> the object's points), and
        the labelled region naming each object (by point id) where one does. Points are of one
        object when linked by parentID, by a relation, or by ids `<prefix>k<n>` of one prefix
        (as Aviary's export writes them)."""
        points = {k: r for k, r in regions.items() if r.tool == "keypoint"}
        links = {k: k for k in points}  # union-find

        def top(k: str) -> str:
            while links[k] != k:
                links[k] = links[links[k]]
                k = links[k]
            return k

        def join(a: str, b: str) -> None:
            links[top(a)] = top(b)

        named: dict[str, str] = {}  # point id -> the non-keypoint region above it
        prefixes: dict[str, str] = {}
        firsts: dict[str, str] = {}
        for key, point in points.items():
            if point.parent in points:
                join(key, point.parent)
            elif point.parent in regions:
                named[key] = point.parent
                join(key, firsts.setdefault(point.parent, key))  # the points under one region
            if (grouped := KEYPOINT_ID.fullmatch(key)) is not None:
                join(key, prefixes.setdefault(grouped[1], key))
        for a, b, from_name in relations:
            if a in points and b in points:
                join(a, b)
                self.counts["relations"] += 1
            else:
                self.dropped[(from_name, "relation")] += 1
        objects: dict[str, list[Region]] = {}
        for key in points:
            objects.setdefault(top(key), []).append(points[key])
        by_point: dict[str, list[Region]] = {}
        owners: dict[str, Region] = {}
        for members in objects.values():
            above = {named[m.id] for m in members if m.id in named}
            if len(above) > 1:
                raise ForeignFormatError(
                    f"keypoints of one object under different regions ({', '.join(sorted(above))})",
                    members[0].where,
                )
            for member in members:
                by_point[member.id] = members
                if above:
                    owners[member.id] = regions[next(iter(above))]
        return by_point, owners

    def _keypoints(self, task: Task, points: list[Region], owner: Region | None) -> None:
        """One object from its keypoints (see the module's docstring)."""
        assert task.width is not None and task.height is not None
        placed = [(p.labels[0], _keypoint(p, task.width, task.height)) for p in points]
        names = [name for name, _ in placed]
        alike = len(points) > 1 and len(set(names)) == 1  # one label on every point
        # the points' one KeyPointLabels control in the config, if they have one
        sources = {p.from_name for p in points}
        control = (
            self.config.get(next(iter(sources)))
            if self.config is not None and len(sources) == 1
            else None
        )
        if control is not None and control.tag.lower() != "keypointlabels":
            control = None
        if owner is not None:
            label = owner.labels[0]
        elif control is not None and control.cls is not None:
            label, alike = control.cls, False  # the class Aviary's export names; points named
            if len(points) == 1:
                self.counts["lone_class_points"] += 1
        elif len(points) == 1:
            self.counts["lone_points"] += 1
            label, alike = names[0], True
        elif alike:
            label = names[0]
        else:
            controls = sorted({p.from_name for p in points})
            if len(controls) != 1:
                raise ForeignFormatError(
                    f"keypoints of one object carry different labels ({', '.join(names)}) from"
                    f" different controls ({', '.join(controls)}), and no labelled region names"
                    " the object",
                    points[0].where,
                )
            label = controls[0]
            self.counts["control_named"] += 1
        attributes: dict[str, AttributeValue] = {}
        for p in points:
            attributes |= p.attributes
        score = points[0].score
        if owner is not None:
            attributes |= owner.attributes
            score = owner.score if owner.score is not None else score
        if alike:
            keypoints = tuple(k for _, k in placed)
            task.shapes.append(
                ForeignShape(
                    label, "keypoints", keypoints=keypoints, attributes=attributes, score=score
                )
            )
            return
        if len(set(names)) != len(names):
            twice = next(n for n in names if names.count(n) > 1)
            raise ForeignFormatError(
                f"two keypoints named {twice!r} in one object of {label!r}", points[0].where
            )
        known = self.names.setdefault(label, [])
        if control is not None and set(names) <= set(control.labels):
            known += [n for n in control.labels if n not in known]  # the config's every name
        known += [n for n in names if n not in known]
        task.shapes.append(NamedKeypoints(label, dict(placed), attributes, score))

    def _geometry(self, task: Task, region: Region) -> ForeignShape | None:
        assert task.width is not None and task.height is not None
        width, height, value, where = task.width, task.height, region.value, region.where
        common: dict[str, Any] = {"attributes": region.attributes, "score": region.score}
        label = region.labels[0]
        if region.tool == "rectangle":
            rotation = value.get("rotation") or 0
            if not isinstance(rotation, int | float) or isinstance(rotation, bool):
                raise ForeignFormatError(f"a rectangle's rotation {rotation!r} is a number", where)
            x = percent_of(value, "x", where) * width / 100
            y = percent_of(value, "y", where) * height / 100
            w = percent_of(value, "width", where) * width / 100
            h = percent_of(value, "height", where) * height / 100
            if w < 0 or h < 0:
                raise ForeignFormatError("a rectangle with a negative width or height", where)
            # Label Studio turns a rectangle about its top-left corner, Aviary about its centre.
            bbox, turn = turned_box((x, y), w, h, float(rotation))
            return ForeignShape(label, "bbox", bbox=bbox, rotation=turn, **common)
        if region.tool == "polygon":
            points = value.get("points")
            if not isinstance(points, list):
                raise ForeignFormatError("a polygon has a list of `points`", where)
            return ForeignShape(
                label, "polygon", points=points_of(points, width, height, where), **common
            )
        if region.tool == "vector":
            return self._vector(label, value, width, height, common, where)
        # a brush
        if value.get("format") != "rle" or not isinstance(value.get("rle"), list):
            self.counts["brush_format"] += 1
            return None
        mask = decode_brush(value["rle"], width, height, where)
        if 1 not in mask:
            self.counts["empty_brush"] += 1
            return None
        rle = Rle(size=(height, width), counts=coco_counts(mask, width))
        return ForeignShape(label, "mask", rle=rle, **common)

    def _vector(
        self,
        label: str,
        value: dict[str, Any],
        width: int,
        height: int,
        common: dict[str, Any],
        where: str,
    ) -> ForeignShape | None:
        vertices = value.get("vertices")
        if not isinstance(vertices, list) or not all(isinstance(v, dict) for v in vertices):
            raise ForeignFormatError("a vector has a list of `vertices`", where)
        previous = None
        for vertex in vertices:
            # each point follows the one before it, unless the path branches (skeleton mode)
            linked = vertex.get("prevPointId")
            if linked is not None and previous is not None and linked != previous:
                self.counts["branching"] += 1
                return None
            previous = vertex.get("id")
        if any(v.get("isBezier") for v in vertices):
            self.counts["bezier"] += 1
        points = points_of([[v.get("x"), v.get("y")] for v in vertices], width, height, where)
        kind: ForeignKind = "polygon" if value.get("closed") else "polyline"
        return ForeignShape(label, kind, points=points, **common)


def _keypoint(region: Region, width: int, height: int) -> Keypoint:
    x = percent_of(region.value, "x", region.where)
    y = percent_of(region.value, "y", region.where)
    return (x * width / 100, y * height / 100, 1 if region.hidden else 2)
