"""COCO instances and keypoints files (`instances_*.json`, `person_keypoints_*.json`, CVAT's
"COCO 1.0" and "COCO Keypoints 1.0", Aviary's `coco/annotations.json`) into a ForeignSet.

One JSON file with `images`, `categories` and `annotations` (a folder is read when it holds one
such file, directly or under `annotations/`). What is read:

- image: `id`, `file_name` (the image's name, as written), `width`, `height`;
- category: `id`, `name` (the label), `keypoints` (the names of its skeleton, kept in
  ForeignSet.skeletons so mapping can reorder points by name) and `skeleton` (checked, not kept:
  the project's ontology has its own edges);
- annotation, by what it holds: `keypoints` ([x, y, v, ...], COCO visibility) a keypoints
  shape; else `segmentation` as polygons (one polygon shape per part: several parts are noted)
  or as RLE (compressed string or uncompressed list counts, `size` = [height, width] of the
  image) a mask; else `bbox` (x, y, w, h) a box. `score` (a model's confidence, in [0, 1]) is
  kept; `attributes` (CVAT's COCO) are kept where they are text or yes/no. An annotation with
  `attributes.rotation` ≠ 0 is a turned box: from the four corners of its outline where it has
  one (as Aviary writes it), else its `bbox` is the box before it turns (as CVAT writes it).

Dropped and noted: the box and outline of keypoint annotations (an Aviary keypoints shape has
neither), `iscrowd` (a crowd region is read as an ordinary mask or polygon), attribute values that
are numbers or lists. Not read at all:
`area` (follows from the geometry), `info`, `licenses`, image URLs and dates.

Refused, with the place: a results file (a bare list of detections: it has no images or
categories), an image or category without an id, an id used twice, an annotation of an image or
category the file does not list, a malformed number, an RLE whose size is not its image's or
whose runs do not cover it.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aviary.contracts.shapes import AttributeValue, Point, Rle, turned_box
from aviary.interop.foreign import (
    ForeignFormatError,
    ForeignImage,
    ForeignSet,
    ForeignShape,
    Keypoint,
)

FORMAT = "coco"


def read(path: Path) -> ForeignSet:
    """The COCO file at `path` (or the one COCO JSON file in the folder `path`)."""
    file = _the_file(path)
    try:
        data = json.loads(file.read_bytes())
    except json.JSONDecodeError as exc:
        raise ForeignFormatError(
            f"not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})", file.name
        ) from None
    except UnicodeDecodeError:
        raise ForeignFormatError("not JSON: the file is not UTF-8 text", file.name) from None
    return parse(data, file.name)


def _the_file(path: Path) -> Path:
    if not path.is_dir():
        return path
    found = sorted([*path.glob("*.json"), *path.glob("annotations/*.json")])
    if len(found) == 1:
        return found[0]
    if not found:
        raise ForeignFormatError("no COCO .json file here, nor under annotations/", str(path))
    names = ", ".join(str(f.relative_to(path)) for f in found)
    raise ForeignFormatError(f"several .json files ({names}): name the one to read", str(path))


def parse(data: Any, source: str = "") -> ForeignSet:
    """A COCO document already parsed from JSON; `source` names it in error messages."""
    return _Reader(source).read(data)


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source
        self.notes: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()  # attribute names whose values were not kept

    def fail(self, message: str, where: str = "") -> ForeignFormatError:
        place = ": ".join(p for p in (self.source, where) if p)
        return ForeignFormatError(message, place)

    def read(self, data: Any) -> ForeignSet:
        if isinstance(data, list):
            raise self.fail(
                "a list of detections (a COCO results file) has no images or categories;"
                " give the instances file the results refer to"
            )
        if not isinstance(data, dict):
            raise self.fail("a COCO file is a JSON object with images, categories, annotations")
        images = self._list(data, "images", required=True)
        categories = self._list(data, "categories", required=bool(data.get("annotations")))
        annotations = self._list(data, "annotations", required=False)

        labels, skeletons = self._categories(categories)
        order, by_id, sizes = self._images(images)
        shapes: dict[Any, list[ForeignShape]] = {image_id: [] for image_id in order}
        seen: set[Any] = set()
        for index, ann in enumerate(annotations):
            where = f"annotations[{index}]"
            if not isinstance(ann, dict):
                raise self.fail("an annotation is a JSON object", where)
            ann_id = ann.get("id")
            if ann_id is not None:
                self._id(ann_id, where)
                where += f" (id {ann_id})"
                if ann_id in seen:
                    raise self.fail(f"annotation id {ann_id} is used twice", where)
                seen.add(ann_id)
            image_id = ann.get("image_id")
            if not _known(image_id, by_id):
                raise self.fail(f"image_id {image_id!r} is not among the images", where)
            category_id = ann.get("category_id")
            if not _known(category_id, labels):
                raise self.fail(f"category_id {category_id!r} is not among the categories", where)
            label = labels[category_id]
            shapes[image_id].extend(
                self._shapes(ann, label, skeletons.get(label), sizes[image_id], where)
            )
        result = ForeignSet(
            FORMAT,
            images=[
                ForeignImage(by_id[i], sizes[i][0], sizes[i][1], tuple(shapes[i])) for i in order
            ],
            skeletons=skeletons,
        )
        result.notes = [f"{count} {text}" for text, count in self.notes.items()]
        if self.dropped:
            names = ", ".join(f"{name} ({n})" for name, n in sorted(self.dropped.items()))
            result.notes.append(f"attribute values that are not text or yes/no dropped: {names}")
        return result

    def _list(self, data: dict[str, Any], key: str, *, required: bool) -> list[Any]:
        value = data.get(key)
        if value is None and not required:
            return []
        if value is None:
            raise self.fail(f"no `{key}` list: not a COCO instances file")
        if not isinstance(value, list):
            raise self.fail(f"`{key}` is a list, not {type(value).__name__}")
        return value

    def _id(self, value: Any, where: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise self.fail(f"an id is a number or a string, not {value!r}", where)

    def _categories(
        self, categories: list[Any]
    ) -> tuple[dict[Any, str], dict[str, tuple[str, ...]]]:
        labels: dict[Any, str] = {}
        skeletons: dict[str, tuple[str, ...]] = {}
        for index, cat in enumerate(categories):
            where = f"categories[{index}]"
            if not isinstance(cat, dict):
                raise self.fail("a category is a JSON object", where)
            cat_id = cat.get("id")
            if cat_id is None:
                raise self.fail("a category without an id", where)
            self._id(cat_id, where)
            name = cat.get("name")
            if not isinstance(name, str) or not name:
                raise self.fail("a category without a name", where)
            if cat_id in labels:
                raise self.fail(f"category id {cat_id} is used twice", where)
            if name in labels.values():
                raise self.fail(f"two categories are named {name!r}", where)
            labels[cat_id] = name
            keypoints = cat.get("keypoints") or []
            if not isinstance(keypoints, list) or not all(
                isinstance(k, str) and k for k in keypoints
            ):
                raise self.fail("`keypoints` of a category is a list of names", where)
            if len(set(keypoints)) != len(keypoints):
                raise self.fail("a keypoint name is given twice", where)
            if keypoints:
                skeletons[name] = tuple(keypoints)
            for edge in cat.get("skeleton") or []:
                ok = (
                    isinstance(edge, list)
                    and len(edge) == 2
                    and all(_integer(v) and 1 <= v <= len(keypoints) for v in edge)
                )
                if not ok:
                    raise self.fail(
                        f"a skeleton edge {edge!r} is not two keypoint numbers"
                        f" from 1 to {len(keypoints)}",
                        where,
                    )
        return labels, skeletons

    def _images(
        self, images: list[Any]
    ) -> tuple[list[Any], dict[Any, str], dict[Any, tuple[int | None, int | None]]]:
        order: list[Any] = []
        names: dict[Any, str] = {}
        sizes: dict[Any, tuple[int | None, int | None]] = {}
        taken: set[str] = set()
        for index, image in enumerate(images):
            where = f"images[{index}]"
            if not isinstance(image, dict):
                raise self.fail("an image is a JSON object", where)
            image_id = image.get("id")
            if image_id is None:
                raise self.fail("an image without an id", where)
            self._id(image_id, where)
            where += f" (id {image_id})"
            if image_id in names:
                raise self.fail(f"image id {image_id} is used twice", where)
            name = image.get("file_name")
            if not isinstance(name, str) or not name:
                raise self.fail("an image without a file_name", where)
            if name in taken:
                raise self.fail(f"two images are named {name!r}", where)
            taken.add(name)
            size = []
            for key in ("width", "height"):
                value = image.get(key)
                if value is not None and not (_integer(value) and value > 0):
                    raise self.fail(f"{key} {value!r} is not a positive whole number", where)
                size.append(int(value) if value is not None else None)
            order.append(image_id)
            names[image_id] = name
            sizes[image_id] = (size[0], size[1])
        return order, names, sizes

    def _shapes(
        self,
        ann: dict[str, Any],
        label: str,
        names: tuple[str, ...] | None,
        size: tuple[int | None, int | None],
        where: str,
    ) -> list[ForeignShape]:
        extra: dict[str, Any] = {
            "attributes": self._attributes(ann.get("attributes"), where),
            "score": self._score(ann.get("score"), where),
        }
        if ann.get("iscrowd") in (1, True):
            self.notes["crowd regions (iscrowd 1) read as single objects"] += 1
        segmentation = ann.get("segmentation")
        if isinstance(segmentation, list) and all(part == [] for part in segmentation):
            segmentation = None  # `[]`, or `[[]]` as some tools write for a plain box
        keypoints = ann.get("keypoints")
        if keypoints:
            points = self._keypoints(keypoints, ann.get("num_keypoints"), names, where)
            if ann.get("bbox") or segmentation:
                self.notes[
                    "keypoint annotations whose box and outline were dropped"
                    " (an Aviary keypoints shape has neither)"
                ] += 1
            return [ForeignShape(label, "keypoints", keypoints=points, **extra)]
        rotation = _turning(ann.get("attributes"))
        if rotation:
            return [self._turned(ann, segmentation, rotation, label, extra, where)]
        if isinstance(segmentation, dict):
            rle = self._rle(segmentation, size, where)
            return [ForeignShape(label, "mask", rle=rle, **extra)]
        if isinstance(segmentation, list) and segmentation:
            parts = [
                self._polygon(part, f"{where} segmentation[{i}]")
                for i, part in enumerate(segmentation)
            ]
            if len(parts) > 1:
                self.notes["outlines in several parts read as one polygon per part"] += 1
            return [ForeignShape(label, "polygon", points=p, **extra) for p in parts]
        if segmentation is not None:
            raise self.fail("segmentation is a list of polygons or an RLE object", where)
        return [ForeignShape(label, "bbox", bbox=self._bbox(ann.get("bbox"), where), **extra)]

    def _turned(
        self,
        ann: Mapping[str, Any],
        segmentation: Any,
        rotation: float,
        label: str,
        extra: dict[str, Any],
        where: str,
    ) -> ForeignShape:
        """A turned box: from its four corners where the outline gives them (as Aviary writes
        it), else its `bbox` as the box before it turns (as CVAT writes it)."""
        if isinstance(segmentation, list) and len(segmentation) == 1 and len(segmentation[0]) == 8:
            corners = self._polygon(segmentation[0], f"{where} segmentation[0]")
            w, h = math.dist(corners[0], corners[1]), math.dist(corners[1], corners[2])
            bbox, turn = turned_box(corners[0], w, h, rotation)
            return ForeignShape(label, "bbox", bbox=bbox, rotation=turn, **extra)
        bbox = self._bbox(ann.get("bbox"), where)
        return ForeignShape(label, "bbox", bbox=bbox, rotation=rotation % 360, **extra)

    def _bbox(self, value: Any, where: str) -> tuple[float, float, float, float]:
        if not (isinstance(value, list) and len(value) == 4 and all(map(_number, value))):
            raise self.fail(f"bbox {value!r} is not four numbers x, y, w, h", where)
        x, y, w, h = (float(v) for v in value)
        if w < 0 or h < 0:
            raise self.fail(f"bbox {value!r} has a negative width or height", where)
        return x, y, w, h

    def _polygon(self, part: Any, where: str) -> tuple[Point, ...]:
        if not isinstance(part, list) or not all(map(_number, part)):
            raise self.fail("a polygon is a list of numbers x1, y1, x2, y2, ...", where)
        if len(part) % 2 or len(part) < 6:
            raise self.fail(
                f"a polygon has {len(part)} numbers: it needs pairs, at least three", where
            )
        return tuple((float(part[i]), float(part[i + 1])) for i in range(0, len(part), 2))

    def _keypoints(
        self, value: Any, count: Any, names: tuple[str, ...] | None, where: str
    ) -> tuple[Keypoint, ...]:
        if not isinstance(value, list) or len(value) % 3 or not all(map(_number, value)):
            raise self.fail("keypoints are a list of numbers x, y, v for each point", where)
        if names is not None and len(value) // 3 != len(names):
            raise self.fail(f"{len(value) // 3} keypoints; the category names {len(names)}", where)
        points: list[Keypoint] = []
        for i in range(0, len(value), 3):
            v = value[i + 2]
            if v not in (0, 1, 2):
                raise self.fail(f"keypoint {i // 3 + 1} has visibility {v!r}, not 0, 1 or 2", where)
            points.append((float(value[i]), float(value[i + 1]), int(v)))  # type: ignore[arg-type]
        labeled = sum(1 for p in points if p[2] > 0)
        if count is not None and count != labeled:
            self.notes[
                "keypoint annotations whose num_keypoints is not the number labeled (not used)"
            ] += 1
        return tuple(points)

    def _rle(self, value: dict[str, Any], size: tuple[int | None, int | None], where: str) -> Rle:
        shape = value.get("size")
        counts = value.get("counts")
        if not (isinstance(shape, list) and len(shape) == 2 and all(_integer(v) for v in shape)):
            raise self.fail(f"RLE size {shape!r} is not [height, width]", where)
        height, width = int(shape[0]), int(shape[1])
        if size[0] is not None and size[1] is not None and (width, height) != size:
            raise self.fail(
                f"RLE size [{height}, {width}] is not the image's [height, width]"
                f" [{size[1]}, {size[0]}]",
                where,
            )
        if isinstance(counts, str):
            runs = _string_runs(counts)
            if runs is None:
                raise self.fail("RLE counts string is not COCO's compressed form", where)
            rle = Rle(size=(height, width), counts=counts)
        elif isinstance(counts, list) and all(_integer(c) for c in counts):
            runs = [int(c) for c in counts]
            rle = Rle(size=(height, width), counts=tuple(runs))
        else:
            raise self.fail("RLE counts are a string or a list of whole numbers", where)
        if any(r < 0 for r in runs) or sum(runs) != height * width:
            raise self.fail(
                f"RLE runs cover {sum(runs)} pixels (or hold a negative run);"
                f" a {width}x{height} mask has {height * width}",
                where,
            )
        return rle

    def _score(self, value: Any, where: str) -> float | None:
        if value is None:
            return None
        if not _number(value) or not 0 <= value <= 1:
            raise self.fail(f"score {value!r} is not a number from 0 to 1", where)
        return float(value)

    def _attributes(self, value: Any, where: str) -> dict[str, AttributeValue]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail("attributes are a JSON object", where)
        kept: dict[str, AttributeValue] = {}
        for name, attr in value.items():
            if isinstance(attr, str | bool):
                kept[name] = attr
                continue
            if name == "rotation" and _number(attr):
                continue  # a turned box's: read with its geometry (`_turned`)
            self.dropped[name] += 1
        return kept


def _turning(attributes: Any) -> float:
    """A box's turn in degrees, from CVAT's `rotation` attribute (0: it does not turn)."""
    value: Any = attributes.get("rotation") if isinstance(attributes, Mapping) else None
    return float(value) % 360 if _number(value) else 0.0


def _known(value: Any, ids: Mapping[Any, Any]) -> bool:
    """An id of the table: a number or a string (not 1.0 nor True, which hash as 1)."""
    return isinstance(value, int | str) and not isinstance(value, bool) and value in ids


def _number(value: Any) -> bool:
    """A finite JSON number (not a boolean, which Python counts as one)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _integer(value: Any) -> bool:
    return _number(value) and float(value).is_integer()


def _string_runs(text: str) -> list[int] | None:
    """The run lengths of COCO's compressed counts (pycocotools' rleFrString), or None when the
    string is not in that form."""
    runs: list[int] = []
    x = k = 0
    for char in text:
        c = ord(char) - 48
        if not 0 <= c <= 63 or k > 12:
            return None
        x |= (c & 0x1F) << (5 * k)
        k += 1
        if c & 0x20:
            continue
        if c & 0x10:
            x |= -1 << (5 * k)  # the last character carries the sign
        if len(runs) > 2:
            x += runs[-2]
        runs.append(x)
        x = k = 0
    return runs if k == 0 else None
