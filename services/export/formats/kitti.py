"""KITTI object detection labels: `kitti/label_2/<item_id>.txt` per item, and
`kitti/classes.txt`.

Each object is one line of the 15 fields of KITTI's ground-truth labels (its devkit's readme):

    type truncated occluded alpha x1 y1 x2 y2 h w l x y z rotation_y

- `type`: the class name with every whitespace character (what `str.split()` and C's `%s` split
  on) replaced by "_", as KITTI's own `Person_sitting`; a name that this makes the same as an
  earlier class's gets `_<class id>` after it. `classes.txt` lists the names, one a line, in
  ontology order (the classes a box can come from).
- `truncated`, `occluded`: from the shape's `truncated` and `occluded` attributes where it has
  them (a boolean: 1 / 0; a text or option: a number, truncated 0..1 and occluded 0..3 as
  KITTI's levels), else 0, what Datumaro and CVAT write when they do not know (KITTI's
  "unknown" occlusion, 3, would make its evaluation ignore every box).
- `alpha`, the 3-D size `h w l`, the location `x y z` and `rotation_y`: KITTI's values for
  "not annotated" (those of its DontCare lines): -10, -1 -1 -1, -1000 -1000 -1000, -10.
- `x1 y1 x2 y2`: the box's left, top, right and bottom edges in pixels (0-based, the frame of
  COCO and VOC: x2 = x + w), two decimals as KITTI writes them, kept inside the image. Objects
  come from boxes, and from polygons and masks as their bounds (a mask's: the box of its pixels),
  as in VOC.

Every item has a label file, empty when it has no object, named by the item id as the image is
in `images/` (move or link that folder to `kitti/image_2/` for tools that pair them, Datumaro's
`kitti_detection` importer among them). Ground-truth lines have no score: a model's confidence,
polylines, keypoints, classifications, empty masks, a polygon's or mask's outline, other
attributes and shapes of classes not in the ontology have no KITTI form (and are not in
`written`).
"""

from __future__ import annotations

from pathlib import Path

from aviary.contracts.shapes import AttributeValue, BoxShape, MaskShape, PolygonShape, Shape
from services.export.formats.model import PackageItem, PackageSpec
from services.export.formats.writer import PerItemFormat
from services.export.formats.zipsink import ZipSink
from shared.domain.geometry import shape_box

FOLDER = "kitti"
KITTI_KINDS = ("bbox", "polygon", "mask")
# What KITTI writes for what was not annotated (as on its DontCare lines): the observation
# angle alpha, and after the box the 3-D size h w l, location x y z and rotation_y.
NO_ALPHA = "-10"
NO_3D = "-1 -1 -1 -1000 -1000 -1000 -10"


def kitti_name(name: str) -> str:
    """A class name as one KITTI field: no whitespace in it."""
    return "".join("_" if c.isspace() else c for c in name)


def kitti_names(classes: list[tuple[int, str]]) -> dict[int, str]:
    """Class id -> its KITTI name, unique (names differing only in whitespace would not be)."""
    names: dict[int, str] = {}
    taken: set[str] = set()
    for class_id, name in classes:
        kitti = kitti_name(name)
        while kitti in taken:
            kitti = f"{kitti}_{class_id}"
        taken.add(kitti)
        names[class_id] = kitti
    return names


def edge(value: float, limit: int) -> str:
    """A box edge kept inside [0, limit], two decimals, never "-0.00"."""
    text = f"{min(max(value, 0.0), float(limit)):.2f}"
    return "0.00" if text == "-0.00" else text


def _number(value: AttributeValue | None, low: float, high: float) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    try:
        number = float(value)
    except ValueError:
        return None
    return number if low <= number <= high else None


def truncated(shape: Shape) -> str:
    value = _number(shape.attributes.get("truncated"), 0.0, 1.0)
    return f"{value or 0.0:.2f}"


def occluded(shape: Shape) -> str:
    value = _number(shape.attributes.get("occluded"), 0.0, 3.0)
    return str(int(value)) if value is not None and value.is_integer() else "0"


class KittiFormat(PerItemFormat):
    """Writes classes.txt at once, then one label file per item as it comes."""

    def __init__(self, sink: ZipSink, parts: Path, spec: PackageSpec) -> None:
        self._sink = sink
        classes = spec.ontology.classes
        self._names = kitti_names([(c.id, c.name) for c in classes])
        listed = [self._names[c.id] for c in classes if c.kind in KITTI_KINDS]
        sink.write_bytes(f"{FOLDER}/classes.txt", "".join(n + "\n" for n in listed).encode())

    def add(self, item: PackageItem, file_name: str) -> list[int]:
        """Write the item's label file; returns the indexes of the shapes written."""
        written: list[int] = []
        lines: list[str] = []
        for i, shape in enumerate(item.shapes):
            name = self._names.get(shape.class_id)
            if name is None or not isinstance(shape, BoxShape | PolygonShape | MaskShape):
                continue
            box = shape_box(shape)
            if box is None:  # an empty mask
                continue
            x, y, w, h = box
            corners = (
                f"{edge(x, item.width)} {edge(y, item.height)} "
                f"{edge(x + w, item.width)} {edge(y + h, item.height)}"
            )
            lines.append(
                f"{name} {truncated(shape)} {occluded(shape)} {NO_ALPHA} {corners} {NO_3D}"
            )
            written.append(i)
        text = "".join(line + "\n" for line in lines)
        self._sink.write_bytes(f"{FOLDER}/label_2/{item.item_id}.txt", text.encode())
        return written
