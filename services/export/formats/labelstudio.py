"""Label Studio JSON: `labelstudio/tasks.json` and `labelstudio/config.xml`.

`tasks.json` is a list of tasks as Label Studio's own JSON export has them, one per image, so a
client can import it into a Label Studio (1.23) project made with `config.xml`, the labeling
config generated from the ontology. Every result's `from_name` is a control of that config and
its `to_name` is the config's one `<Image name="image" value="$image"/>`.

A task: `id` (1.., in delivery order; Label Studio gives its own on import), `data.image`
(`images/<item_id>.<ext>`, the image's path in the package: the client serves it to Label Studio,
e.g. through local-files storage, and rewrites the prefix), `meta` (`aviary_item_id`,
`original_file_name`, and `aviary_models`: result id -> `model@version` for shapes a model
proposed) and one annotation (`ground_truth` false, `was_cancelled` false) whose `result` holds
the item's shapes (empty for an image accepted with none). Every region result has a stable `id`
(`s<shape index>`, so the same item gives the same file), `type`, `from_name`, `to_name`,
`original_width` / `original_height` (the displayed size, EXIF rotation applied), `image_rotation`
0, `origin` and `value`. Coordinates in `value` are percent (0-100) of the displayed width
(x) and height (y):

- bbox -> `rectanglelabels` (control `box`): `x`, `y`, `width`, `height`, `rotation`. Label
  Studio turns a rectangle about its top-left corner, Aviary about its centre: a turned box's
  `x`, `y` are where its top-left corner is once turned, which draws the same rectangle.
- polygon -> `polygonlabels` (control `polygon`): `points` [[x, y], ...], `closed` true.
- polyline -> `vectorlabels` (control `polyline`, Label Studio's VectorLabels: it has no
  PolyLine tag): `vertices` [{`id`, `x`, `y`, `prevPointId`, `isBezier` false}], `closed` false;
  a smooth line's vertices are its curve's points.
- keypoints -> `keypointlabels` (control `keypoints-<class id>`, one per keypoint class, its
  labels the skeleton's keypoint names with `model_index` their order, as Label Studio's
  converters read them): one result per labeled keypoint (visibility 1 or 2), `x`, `y`,
  `width` `KEYPOINT_WIDTH`, id `s<shape>k<keypoint index>`; visibility 1 (labeled but hidden) adds
  the per-region choice `hidden` (control `keypoints-<class id>-hidden`); the skeleton's edges
  between labeled keypoints are `relation` results (`from_id`, `to_id`, direction `right`), which
  keep a pose's points together.
- mask -> `brushlabels` (control `mask`): `format` "rle", `rle`, Label Studio's own brush
  encoding (label-studio-sdk's `brush.encode_rle` / the editor's rle-pack decoder): the mask as
  RGBA bytes, row by row, 255 in every channel of a set pixel; `brush_rle` writes it.
- classification -> one `choices` result (control `classification`, choice="multiple", id
  `classification`) listing the item's classification classes, each once.
- attributes: per class and attribute a control `attr-<class id>-<n>` (n: the attribute's
  position in the class): enum -> Choices of its options, boolean -> Choices `true` / `false`,
  text -> TextArea. For a region it is `perRegion` and its result has the region's `id` and
  geometry (as Label Studio exports per-region results; a mask's RLE is not repeated); for a
  classification it is a whole-image control shown when that class is chosen.
- hints for reading the file back (aviary.interop.labelstudio): XML attributes Label Studio
  keeps and ignores. An attribute control has `aviaryClass` (the class's label),
  `aviaryAttribute` (the attribute's name) and `aviaryType` (boolean, enum, text); a keypoint
  class's KeyPointLabels has `aviaryClass`, its hidden choice `aviaryClass` and
  `aviaryRole="hidden"`.
- provenance: `origin` is `manual` for shapes by hand, `prediction` for a model's shape kept as
  proposed, `prediction-changed` for one edited by hand (Label Studio's own values), with `score`
  the model's confidence where there is one; the model's name is in the task's
  `meta.aviary_models` (and in the package manifest).

Class names are label values: XML-escaped in the config (characters XML cannot hold at all
become U+FFFD, in the config and the results alike, so they still match). Label colours are the
class's own `colour`, else a fixed palette by the class's position in the ontology.

Not carried (and so not in `written`): shapes of a class no longer in the ontology or whose kind
is not the class's, keypoints drawn against another skeleton or of a class without one, keypoint
shapes with no labeled point, empty masks. Dropped from shapes that are written: the attributes
of keypoint shapes, attribute values that are not in the class's spec (an unknown name, an enum
value not among the options), the attributes of a second classification of the same class in
one image (its class is listed once), and the model's name (only in `meta`).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np

from aviary.contracts.shapes import (
    AttributeSpec,
    AttributeValue,
    BoxShape,
    ClassificationShape,
    KeypointsShape,
    MaskShape,
    OntologyClass,
    PolygonShape,
    PolylineShape,
    Shape,
)
from aviary.interop.labelstudio_config import HINT_ATTRIBUTE, HINT_CLASS, HINT_ROLE, HINT_TYPE
from services.export.formats.model import PackageItem, PackageSpec
from services.export.formats.partfile import PartFile
from services.export.formats.text import xml_text
from services.export.formats.zipsink import ZipSink
from shared.domain import masks

TASKS = "labelstudio/tasks.json"
CONFIG = "labelstudio/config.xml"
IMAGE = "image"  # the config's Image tag: every result's to_name
CLASSIFICATION = "classification"
# What a control means to Aviary, for reading a Label Studio export back with this config
# (client/aviary/interop/labelstudio.py): extra XML attributes, which Label Studio keeps and
# ignores (its config schema allows any; checked in tests/unit/test_labelstudio_import.py).
# A keypoint's drawn size, in percent of the image width (the editor's default is ~2 screen px).
KEYPOINT_WIDTH = 0.5
# Region controls by the class's kind: (tag, control name, result type).
REGION_CONTROLS = {
    "bbox": ("RectangleLabels", "box", "rectanglelabels"),
    "polygon": ("PolygonLabels", "polygon", "polygonlabels"),
    "polyline": ("VectorLabels", "polyline", "vectorlabels"),
    "mask": ("BrushLabels", "mask", "brushlabels"),
}
PALETTE = (
    "#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#46f0f0",
    "#f032e6", "#bcf60c", "#008080", "#9a6324", "#800000", "#000075",
)  # fmt: skip
_JSON = json.JSONEncoder(separators=(",", ":"), allow_nan=False)

# ----- Label Studio's brush RLE -----------------------------------------------------------------

_WORD = 8  # bits per value (RGBA bytes)
_RUN_BITS = (3, 4, 8, 16)  # the four run-length widths the header declares
_MAX_RUN = 1 << _RUN_BITS[-1]
_CHUNK = 1 << 16


def brush_rle(mask: np.ndarray) -> list[int]:
    """A 2-D mask as Label Studio's brush `rle`: the bytes of thi.ng's rle-pack stream (what
    label-studio-sdk's `mask2rle` writes) of the mask's RGBA image, row by row, every channel
    255 where the mask is set and 0 elsewhere.

    The stream is a header (32 bits: how many values; 5 bits: word size - 1; 4 x 4 bits: the
    run-length widths - 1) and then runs; a run of n equal values is `1`, 2 bits choosing the
    narrowest width that holds n - 1, n - 1 in that width, and the value in 8 bits. Every run
    here is at least 4 values long (one pixel is 4 channels); runs past 2**16 are cut."""
    if mask.ndim != 2:
        raise ValueError(f"a mask has two dimensions, not {mask.ndim}")
    flat = np.ascontiguousarray(mask, dtype=bool).ravel()  # row-major, as ImageData is
    if flat.size == 0:
        raise ValueError("an empty image has no brush RLE")
    starts = np.concatenate(([0], np.flatnonzero(flat[1:] != flat[:-1]) + 1))
    lengths = np.diff(np.append(starts, flat.size)).astype(np.int64) * 4
    values = np.where(flat[starts], 255, 0).astype(np.int64)
    # Runs longer than the widest length field become several runs of the same value.
    pieces = (lengths + _MAX_RUN - 1) // _MAX_RUN
    first = np.repeat(np.cumsum(pieces) - pieces, pieces)
    k = np.arange(int(pieces.sum())) - first  # which piece of its run
    total = np.repeat(lengths, pieces)
    runs = np.minimum(total - k * _MAX_RUN, _MAX_RUN)
    values = np.repeat(values, pieces)
    # The narrowest of the four widths that holds runs - 1.
    selector = np.searchsorted(np.array([1 << b for b in _RUN_BITS]), runs, side="left")
    run_bits = np.array(_RUN_BITS)[selector]
    codes = (
        (1 << (2 + run_bits + _WORD))
        | (selector << (run_bits + _WORD))
        | ((runs - 1) << _WORD)
        | values
    )
    widths = 3 + run_bits + _WORD
    header = (flat.size * 4) << 21 | (_WORD - 1) << 16
    for i, bits in enumerate(_RUN_BITS):
        header |= (bits - 1) << (12 - 4 * i)
    codes = np.concatenate(([header], codes))
    widths = np.concatenate(([53], widths))
    # Every code's bits, most significant first, one after another: a byte per bit, made a
    # slice of codes at a time (a mask of a million runs must not take 64-bit words per bit).
    ends = np.cumsum(widths)
    bits_out = np.empty(int(ends[-1]), dtype=np.uint8)
    for lo in range(0, codes.size, _CHUNK):
        c, w, e = codes[lo : lo + _CHUNK], widths[lo : lo + _CHUNK], ends[lo : lo + _CHUNK]
        start, stop = int(e[0] - w[0]), int(e[-1])
        within = np.arange(start, stop) - np.repeat(e - w, w)  # a bit's place in its code
        bits_out[start:stop] = (np.repeat(c, w) >> (np.repeat(w, w) - 1 - within)) & 1
    packed: list[int] = np.packbits(bits_out).tolist()
    return packed


# ----- the labeling config ----------------------------------------------------------------------


def label_of(cls: OntologyClass) -> str:
    """The class's label value, in the config and in results alike."""
    return xml_text(cls.name)


def attribute_control(cls: OntologyClass, n: int) -> str:
    return f"attr-{cls.id}-{n}"


def keypoints_control(cls: OntologyClass) -> str:
    return f"keypoints-{cls.id}"


def _options(spec: AttributeSpec) -> tuple[str, ...] | None:
    """The choices of an enum or boolean attribute; None for a text one."""
    if spec.type == "boolean":
        return ("true", "false")
    if spec.type == "enum":
        return tuple(dict.fromkeys(xml_text(o) for o in spec.options))
    return None


def _when(value: str) -> str | None:
    # whenLabelValue / whenChoiceValue split on commas: such a name cannot narrow the view.
    return None if "," in value else value


def _labels(parent: ET.Element, tag: str, name: str, labels: list[tuple[str, str]]) -> None:
    control = ET.SubElement(parent, tag, name=name, toName=IMAGE)
    for value, colour in dict(labels).items():  # a name twice in one control: one label
        ET.SubElement(control, "Label", value=value, background=colour)


def _attribute_views(parent: ET.Element, cls: OntologyClass) -> None:
    """Each attribute's control, shown for the class's regions (or, for a classification, when
    the class is chosen)."""
    label = label_of(cls)
    region = cls.kind in REGION_CONTROLS
    for n, spec in enumerate(cls.attributes):
        options = _options(spec)
        if options == ():
            continue  # an enum with no options has no value to give
        view = ET.SubElement(parent, "View")
        if region:
            view.set("visibleWhen", "region-selected")
            view.set("whenTagName", REGION_CONTROLS[cls.kind][1])
            when = _when(label)
            if when is not None:
                view.set("whenLabelValue", when)
        else:
            view.set("visibleWhen", "choice-selected")
            view.set("whenTagName", CLASSIFICATION)
            when = _when(label)
            if when is not None:
                view.set("whenChoiceValue", when)
        ET.SubElement(view, "Header", value=f"{label}: {xml_text(spec.name)}")
        name = attribute_control(cls, n)
        if options is None:
            control = ET.SubElement(view, "TextArea", name=name, toName=IMAGE)
        else:
            control = ET.SubElement(view, "Choices", name=name, toName=IMAGE)
            control.set("choice", "single-radio")
        if region:
            control.set("perRegion", "true")
        control.set(HINT_CLASS, label)
        control.set(HINT_ATTRIBUTE, xml_text(spec.name))
        control.set(HINT_TYPE, spec.type)
        for option in options or ():
            ET.SubElement(control, "Choice", value=option)


def labeling_config(classes: tuple[OntologyClass, ...]) -> bytes:
    """The `<View>` for the ontology's classes: one control per region kind, one per keypoint
    class, one Choices for the classifications, and the attributes' controls."""
    root = ET.Element("View")
    ET.SubElement(root, "Image", name=IMAGE, value="$" + IMAGE)
    colours = {c.id: c.colour or PALETTE[i % len(PALETTE)] for i, c in enumerate(classes)}
    for kind, (tag, name, _) in REGION_CONTROLS.items():
        labels = [(label_of(c), colours[c.id]) for c in classes if c.kind == kind]
        if labels:
            _labels(root, tag, name, labels)
    for cls in classes:
        if cls.kind != "keypoints" or cls.skeleton is None:
            continue
        ET.SubElement(root, "Header", value=label_of(cls))
        control = ET.SubElement(
            root,
            "KeyPointLabels",
            {"name": keypoints_control(cls), "toName": IMAGE, HINT_CLASS: label_of(cls)},
        )
        for index, point in enumerate(cls.skeleton.keypoints):
            ET.SubElement(
                control,
                "Label",
                value=xml_text(point),
                background=colours[cls.id],
                model_index=str(index),
            )
        view = ET.SubElement(
            root, "View", visibleWhen="region-selected", whenTagName=keypoints_control(cls)
        )
        hidden = ET.SubElement(
            view,
            "Choices",
            {
                "name": keypoints_control(cls) + "-hidden",
                "toName": IMAGE,
                "perRegion": "true",
                "choice": "multiple",
                HINT_CLASS: label_of(cls),
                HINT_ROLE: "hidden",
            },
        )
        ET.SubElement(hidden, "Choice", value="hidden")
    choices = [label_of(c) for c in classes if c.kind == "classification"]
    if choices:
        control = ET.SubElement(
            root, "Choices", name=CLASSIFICATION, toName=IMAGE, choice="multiple"
        )
        for value in dict.fromkeys(choices):
            ET.SubElement(control, "Choice", value=value)
    for cls in classes:
        if cls.kind in REGION_CONTROLS or cls.kind == "classification":
            _attribute_views(root, cls)
    ET.indent(root)
    # No XML declaration: Label Studio parses the config as a string, and lxml refuses a string
    # that declares its encoding. Its own configs have none either.
    return (ET.tostring(root, encoding="unicode") + "\n").encode()


# ----- results ----------------------------------------------------------------------------------


def _attribute_value(spec: AttributeSpec, value: AttributeValue) -> tuple[str, list[str]] | None:
    """(result type, value key's list) for one attribute value, or None where it is not one
    the control offers."""
    if spec.type == "boolean":
        if not isinstance(value, bool):
            return None
        return "choices", ["true" if value else "false"]
    if not isinstance(value, str):
        return None
    if spec.type == "enum":
        options = _options(spec) or ()
        text = xml_text(value)
        return ("choices", [text]) if text in options else None
    return "textarea", [value]


class _Item:
    """The results of one item, as they are built."""

    def __init__(self, item: PackageItem) -> None:
        self.width = item.width
        self.height = item.height
        self.results: list[dict[str, Any]] = []
        self.models: dict[str, str] = {}

    def px(self, x: float) -> float:
        return x * 100 / self.width

    def py(self, y: float) -> float:
        return y * 100 / self.height

    def add(
        self, rid: str, from_name: str, kind: str, value: dict[str, Any], shape: Shape | None
    ) -> dict[str, Any]:
        result: dict[str, Any] = {
            "id": rid,
            "type": kind,
            "from_name": from_name,
            "to_name": IMAGE,
            "original_width": self.width,
            "original_height": self.height,
            "image_rotation": 0,
            "value": value,
        }
        if shape is not None:
            source = shape.source
            if source is None or source.by == "human":
                result["origin"] = "manual"
            else:
                result["origin"] = "prediction" if source.by == "model" else "prediction-changed"
                if source.confidence is not None:
                    result["score"] = source.confidence
                if source.model is not None:
                    self.models[rid] = source.model
        self.results.append(result)
        return result


class LabelStudioFormat:
    """Writes config.xml at once; tasks go to a part file as items come, streamed in `finish`."""

    def __init__(self, sink: ZipSink, parts: Path, spec: PackageSpec) -> None:
        classes = spec.ontology.classes
        self._classes = {c.id: c for c in classes}
        sink.write_bytes(CONFIG, labeling_config(classes))
        self._part = PartFile(parts / "labelstudio-tasks.part", separator=",\n")

    def add(self, item: PackageItem, file_name: str) -> list[int]:
        """Append the item's task; returns the indexes of the shapes written."""
        out = _Item(item)
        written: list[int] = []
        chosen: dict[str, tuple[int, Shape]] = {}  # classification label -> its first shape
        for index, shape in enumerate(item.shapes):
            cls = self._classes.get(shape.class_id)
            if cls is None or cls.kind != shape.kind:
                continue
            if isinstance(shape, ClassificationShape):
                chosen.setdefault(label_of(cls), (index, shape))
                written.append(index)
            elif isinstance(shape, KeypointsShape):
                if self._keypoints(out, index, cls, shape):
                    written.append(index)
            elif self._region(out, index, cls, shape):
                written.append(index)
        if chosen:
            first = next(iter(chosen.values()))[1]
            value = {"choices": list(chosen)}
            out.add(CLASSIFICATION, CLASSIFICATION, "choices", value, first)
            for index, shape in chosen.values():
                cls = self._classes[shape.class_id]
                self._attributes(out, f"s{index}", cls, shape, {})
        meta: dict[str, Any] = {
            "aviary_item_id": item.item_id,
            "original_file_name": item.file_name,
        }
        if out.models:
            meta["aviary_models"] = out.models
        task = {
            "id": self._part.entries + 1,
            "data": {IMAGE: f"images/{file_name}"},
            "annotations": [{"result": out.results, "ground_truth": False, "was_cancelled": False}],
            "meta": meta,
        }
        self._part.add(_JSON.encode(task))
        return written

    def _region(self, out: _Item, index: int, cls: OntologyClass, shape: Shape) -> bool:
        """A box, polygon, polyline or mask and its attributes; False where it has no region."""
        _, control, kind = REGION_CONTROLS[cls.kind]
        rid = f"s{index}"
        geometry: dict[str, Any]
        if isinstance(shape, BoxShape):
            (x, y), w, h = shape.corners()[0], shape.bbox[2], shape.bbox[3]
            geometry = {
                "x": out.px(x),
                "y": out.py(y),
                "width": out.px(w),
                "height": out.py(h),
                "rotation": shape.rotation,
            }
        elif isinstance(shape, PolygonShape):
            geometry = {
                "points": [[out.px(x), out.py(y)] for x, y in shape.points],
                "closed": True,
            }
        elif isinstance(shape, PolylineShape):
            vertices: list[dict[str, Any]] = []
            for j, (x, y) in enumerate(shape.line()):
                vertex: dict[str, Any] = {"id": f"{rid}v{j}", "x": out.px(x), "y": out.py(y)}
                if j:
                    vertex["prevPointId"] = f"{rid}v{j - 1}"
                vertex["isBezier"] = False
                vertices.append(vertex)
            geometry = {"vertices": vertices, "closed": False}
        elif isinstance(shape, MaskShape):
            pixels = masks.decode(shape.rle)
            if not pixels.any():
                return False  # the editor keeps no empty brush region either
            out.add(
                rid,
                control,
                kind,
                {"format": "rle", "rle": brush_rle(pixels), kind: [label_of(cls)]},
                shape,
            )
            self._attributes(out, rid, cls, shape, {})
            return True
        else:
            return False
        out.add(rid, control, kind, {**geometry, kind: [label_of(cls)]}, shape)
        self._attributes(out, rid, cls, shape, geometry)
        return True

    def _attributes(
        self,
        out: _Item,
        rid: str,
        cls: OntologyClass,
        shape: Shape,
        geometry: dict[str, Any],
    ) -> None:
        """One result per attribute value the class's controls can hold. A region's carry its
        id and geometry (per-region results); a classification's are whole-image results."""
        for n, spec in enumerate(cls.attributes):
            if spec.name not in shape.attributes:
                continue
            mapped = _attribute_value(spec, shape.attributes[spec.name])
            if mapped is None:
                continue
            kind, values = mapped
            key = "choices" if kind == "choices" else "text"
            rid_of = rid if cls.kind in REGION_CONTROLS else f"{rid}a{n}"
            out.add(rid_of, attribute_control(cls, n), kind, {**geometry, key: values}, None)

    def _keypoints(self, out: _Item, index: int, cls: OntologyClass, shape: KeypointsShape) -> bool:
        skeleton = cls.skeleton
        if skeleton is None or len(shape.keypoints) != len(skeleton.keypoints):
            return False  # drawn against another skeleton: only JSONL can say what it is
        control = keypoints_control(cls)
        ids: dict[int, str] = {}
        for k, (x, y, v) in enumerate(shape.keypoints):
            if v == 0:
                continue
            rid = ids[k] = f"s{index}k{k}"
            point = {"x": out.px(x), "y": out.py(y), "width": KEYPOINT_WIDTH}
            label = xml_text(skeleton.keypoints[k])
            out.add(rid, control, "keypointlabels", {**point, "keypointlabels": [label]}, shape)
            if v == 1:
                out.add(rid, control + "-hidden", "choices", {**point, "choices": ["hidden"]}, None)
        for a, b in skeleton.edges:  # 1-based, as in COCO
            if a - 1 in ids and b - 1 in ids:
                out.results.append(
                    {
                        "type": "relation",
                        "from_id": ids[a - 1],
                        "to_id": ids[b - 1],
                        "direction": "right",
                        "labels": [],
                    }
                )
        return bool(ids)

    def finish(self, sink: ZipSink) -> None:
        self._part.finish(sink, TASKS, head=b"[\n", tail=b"\n]\n")

    def abort(self) -> None:
        self._part.abort()
