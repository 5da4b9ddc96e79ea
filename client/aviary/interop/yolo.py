"""YOLO datasets as Ultralytics, Roboflow, CVAT and Aviary write them, into a ForeignSet.

A folder with the class names and one label file per image:

- names: `data.yaml` (`names` as a list, or as a mapping from class number to name; `nc`, the
  number of classes, checked against it; `kpt_shape`, [points, 2 or 3], for pose labels), read
  without a YAML library (the small part of YAML those files use: block and flow lists and
  mappings of plain, single- or double-quoted names, comments; any other key is skipped), or else
  `classes.txt` / `obj.names`, one name a line, the line number being the class number;
- labels: every `.txt` under a folder named `labels` (`labels/train/a.txt`,
  `train/labels/a.txt`); without one, every `.txt` in the folder and below (but `classes.txt`
  and the image lists `train.txt`, `val.txt`, `valid.txt`, `test.txt` at the top);
- each label line, in coordinates normalised by the image's size: `c cx cy w h` a box;
  `c x1 y1 x2 y2 ...` (three points or more) a polygon; with `kpt_shape` [K, D],
  `c cx cy w h` and K points of D numbers (`x y v`, COCO visibility 0/1/2, or `x y`, visible)
  a keypoints shape (its box is dropped, and noted: an Aviary keypoints shape has none).

The size a label is normalised by is the image's: the image of the same name with `labels`
turned into `images` in its path (or next to the label; or, for an Aviary package, in the
package's `images/`), read from its header (imagesize.py: the displayed size, EXIF rotation
applied, as ingest stores it). `sizes` gives it instead for images already ingested, by the
image's file name or its name without extension. A label without an image or a size is refused:
its coordinates cannot be turned into pixels. Images without a label file are images without
shapes (YOLO's background images). An image's name is its path under the dataset folder
(`images/train/a.jpg`; a `sizes` key when there is no file).

Not read: the `path`, `train`, `val` and `test` keys of data.yaml (the folders are found as
above), `flip_idx`, `kpt_names` and any other key.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from aviary.interop.foreign import (
    ForeignFormatError,
    ForeignImage,
    ForeignSet,
    ForeignShape,
    Keypoint,
)
from aviary.interop.imagesize import ImageSizeError, image_size

FORMAT = "yolo"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
DATA_YAML = ("data.yaml", "data.yml", "dataset.yaml")
NAMES_FILES = ("classes.txt", "obj.names")
# Files at the top of a dataset that list images (Darknet, CVAT's YOLO 1.1), not labels.
IMAGE_LISTS = frozenset({"train.txt", "val.txt", "valid.txt", "test.txt", *NAMES_FILES})


@dataclass(frozen=True)
class Classes:
    names: dict[int, str]
    kpt_shape: tuple[int, int] | None = None


def read(path: Path, sizes: Mapping[str, tuple[int, int]] | None = None) -> ForeignSet:
    """The YOLO dataset in the folder `path` (or the folder of the data.yaml `path`).

    `sizes`: (width, height) of images already ingested, by file name or name without extension;
    it wins over the image file's header.
    """
    if path.is_file() and path.suffix.lower() not in (".yaml", ".yml"):
        raise ForeignFormatError("give the dataset's folder, or its data.yaml", str(path))
    folder = path.parent if path.is_file() else path
    if not folder.is_dir():
        raise ForeignFormatError("not a folder", str(path))
    classes = read_classes(folder, path if path.is_file() else None)
    return _Dataset(folder, classes, sizes or {}).read()


# ----- class names ---------------------------------------------------------------------------


def read_classes(folder: Path, data_yaml: Path | None = None) -> Classes:
    """The class names (and keypoint shape) of the dataset in `folder`."""
    candidates = [data_yaml] if data_yaml else [folder / name for name in DATA_YAML]
    for file in candidates:
        if file.is_file():
            return parse_data_yaml(_text(file), file.name)
    for name in NAMES_FILES:
        file = folder / name
        if file.is_file():
            lines = _text(file).splitlines()
            while lines and not lines[-1].strip():
                lines.pop()
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    raise ForeignFormatError("an empty class name", f"{name}:{number}")
            if not lines:
                raise ForeignFormatError("no class names", name)
            return Classes(dict(enumerate(lines)))
    raise ForeignFormatError(
        "no data.yaml, classes.txt or obj.names: the class names are unknown", str(folder)
    )


def _text(file: Path) -> str:
    try:
        return file.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ForeignFormatError("not UTF-8 text", file.name) from None


def parse_data_yaml(text: str, where: str = "data.yaml") -> Classes:
    """`names`, `nc` and `kpt_shape` of an Ultralytics data.yaml."""
    lines = text.splitlines()
    found: dict[str, tuple[Any, int]] = {}
    i = 0
    while i < len(lines):
        number = i + 1
        line = _uncommented(lines[i])
        i += 1
        if (
            not line.strip()
            or line[0] in " \t"
            or line.startswith(("---", "...", "- "))
            or line == "-"
        ):
            continue  # blank, a comment, or nested under a key this reader skips
        key, sep, rest = line.partition(":")
        key = _scalar(key.strip(), f"{where}:{number}")
        rest = rest.strip()
        if not sep:
            raise ForeignFormatError(
                f"expected `key: value`, found {line.strip()!r}", f"{where}:{number}"
            )
        if key not in ("names", "nc", "kpt_shape"):
            continue
        if rest.startswith(("[", "{")):
            while not _closed(rest) and i < len(lines):
                rest += " " + _uncommented(lines[i]).strip()
                i += 1
            found[key] = (_Flow(rest, f"{where}:{number}").value(), number)
        elif rest:
            found[key] = (_scalar(rest, f"{where}:{number}"), number)
        else:
            block: list[tuple[str, int]] = []
            while i < len(lines):
                item = _uncommented(lines[i])
                if item.strip() and item[0] not in " \t" and not item.startswith("- "):
                    break
                if item.strip():
                    block.append((item.strip(), i + 1))
                i += 1
            found[key] = (_block(block, where), number)
    return _classes(found, where)


def _classes(found: dict[str, tuple[Any, int]], where: str) -> Classes:
    if "names" not in found:
        raise ForeignFormatError("no `names`: the class names are unknown", where)
    value, number = found["names"]
    place = f"{where}:{number}"
    if isinstance(value, list):
        names = dict(enumerate(value))
    elif isinstance(value, dict):
        names = {}
        for key, name in value.items():
            if not (isinstance(key, str) and key.isdigit()):
                raise ForeignFormatError(f"names: {key!r} is not a class number", place)
            names[int(key)] = name
    else:
        raise ForeignFormatError("names is a list, or a mapping of class numbers to names", place)
    if not all(isinstance(n, str) and n for n in names.values()) or not names:
        raise ForeignFormatError("names are non-empty names", place)
    if "nc" in found:
        nc, number = found["nc"]
        if not (isinstance(nc, str) and nc.isdigit() and int(nc) == len(names)):
            raise ForeignFormatError(
                f"nc is {nc!r}, but names has {len(names)}", f"{where}:{number}"
            )
    kpt_shape = None
    if "kpt_shape" in found:
        shape, number = found["kpt_shape"]
        ok = (
            isinstance(shape, list)
            and len(shape) == 2
            and all(isinstance(v, str) and v.isdigit() for v in shape)
            and int(shape[0]) >= 1
            and shape[1] in ("2", "3")
        )
        if not ok:
            raise ForeignFormatError(
                f"kpt_shape {shape!r} is not [points, 2 or 3]", f"{where}:{number}"
            )
        kpt_shape = (int(shape[0]), int(shape[1]))
    return Classes(names, kpt_shape)


def _block(block: list[tuple[str, int]], where: str) -> list[Any] | dict[str, Any]:
    """A block list (`- name`) or mapping (`0: name`) of scalars."""
    items: list[Any] = []
    mapping: dict[str, Any] = {}
    for text, number in block:
        place = f"{where}:{number}"
        if text == "-" or text.startswith("- "):
            items.append(_scalar(text[1:].strip(), place))
        else:
            key, sep, value = _split_pair(text, place)
            if not sep:
                raise ForeignFormatError(f"expected `- name` or `number: name`: {text!r}", place)
            if key in mapping:
                raise ForeignFormatError(f"{key!r} is given twice", place)
            mapping[key] = _scalar(value.strip(), place)
    if items and mapping:
        raise ForeignFormatError("a list and a mapping mixed", where)
    return mapping if mapping else items


def _split_pair(text: str, where: str) -> tuple[str, str, str]:
    """`key: value` split at the first colon outside quotes."""
    quote = ""
    for index, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == ":" and (index + 1 == len(text) or text[index + 1] in " \t"):
            return _scalar(text[:index].strip(), where), ":", text[index + 1 :]
    return text, "", ""


def _uncommented(line: str) -> str:
    """The line without a trailing comment (a # after a space, outside quotes)."""
    quote = ""
    for index, char in enumerate(line):
        if quote:
            if char == quote:
                quote = ""
            elif char == "\\" and quote == '"':
                continue
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1] in " \t"):
            return line[:index].rstrip()
    return line.rstrip()


def _closed(text: str) -> bool:
    depth = 0
    quote = ""
    escaped = False
    for char in text:
        if quote:
            if escaped:
                escaped = False
            elif char == "\\" and quote == '"':
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
    return depth <= 0


_ESCAPES = {
    "0": "\0", "a": "\a", "b": "\b", "t": "\t", "\t": "\t", "n": "\n", "v": "\v", "f": "\f",
    "r": "\r", "e": "\x1b", " ": " ", '"': '"', "/": "/", "\\": "\\", "N": "\x85",
    "_": "\xa0", "L": "\u2028", "P": "\u2029",
}  # fmt: skip
_HEX = {"x": 2, "u": 4, "U": 8}


def _scalar(text: str, where: str) -> str:
    """A plain, 'single-quoted' or "double-quoted" YAML scalar, as a string."""
    if text.startswith('"'):
        value, end = _double_quoted(text, 1, where)
    elif text.startswith("'"):
        value, end = _single_quoted(text, 1, where)
    else:
        return text.strip()
    if text[end:].strip():
        raise ForeignFormatError(f"text after a quoted name: {text!r}", where)
    return value


def _double_quoted(text: str, i: int, where: str) -> tuple[str, int]:
    out: list[str] = []
    while i < len(text):
        char = text[i]
        if char == '"':
            return "".join(out), i + 1
        if char != "\\":
            out.append(char)
            i += 1
            continue
        code = text[i + 1 : i + 2]
        if code in _ESCAPES:
            out.append(_ESCAPES[code])
            i += 2
        elif code in _HEX:
            digits = text[i + 2 : i + 2 + _HEX[code]]
            try:
                out.append(chr(int(digits, 16)))
            except ValueError:
                raise ForeignFormatError(f"a bad escape \\{code}{digits}", where) from None
            i += 2 + _HEX[code]
        else:
            raise ForeignFormatError(f"an unknown escape \\{code}", where)
    raise ForeignFormatError("a double-quoted name without its closing quote", where)


def _single_quoted(text: str, i: int, where: str) -> tuple[str, int]:
    out: list[str] = []
    while i < len(text):
        if text[i] == "'":
            if text[i + 1 : i + 2] == "'":
                out.append("'")
                i += 2
                continue
            return "".join(out), i + 1
        out.append(text[i])
        i += 1
    raise ForeignFormatError("a single-quoted name without its closing quote", where)


class _Flow:
    """A flow list `[a, 'b']` or mapping `{0: a, 1: "b"}` of scalars."""

    def __init__(self, text: str, where: str) -> None:
        self.text = text
        self.i = 0
        self.where = where

    def fail(self, message: str) -> ForeignFormatError:
        return ForeignFormatError(f"{message} in {self.text!r}", self.where)

    def value(self) -> list[Any] | dict[str, Any]:
        result = self._collection()
        if self.text[self.i :].strip():
            raise self.fail("text after the closing bracket")
        return result

    def _skip(self) -> None:
        while self.i < len(self.text) and self.text[self.i] in " \t":
            self.i += 1

    def _collection(self) -> list[Any] | dict[str, Any]:
        opening = self.text[self.i]
        closing = "]" if opening == "[" else "}"
        self.i += 1
        items: list[Any] = []
        mapping: dict[str, Any] = {}
        while True:
            self._skip()
            if self.text[self.i : self.i + 1] == closing:
                self.i += 1
                return items if opening == "[" else mapping
            item = self._item(stop=",:" + closing if opening == "{" else "," + closing)
            if opening == "{":
                self._skip()
                if self.text[self.i : self.i + 1] != ":":
                    raise self.fail("a mapping entry without `:`")
                self.i += 1
                mapping[str(item)] = self._item(stop="," + closing)
            else:
                items.append(item)
            self._skip()
            char = self.text[self.i : self.i + 1]
            if char == ",":
                self.i += 1
            elif char != closing:
                raise self.fail("a missing comma or closing bracket")

    def _item(self, stop: str) -> Any:
        self._skip()
        char = self.text[self.i : self.i + 1]
        if char in ("[", "{"):
            return self._collection()
        if char == '"':
            value, self.i = _double_quoted(self.text, self.i + 1, self.where)
            return value
        if char == "'":
            value, self.i = _single_quoted(self.text, self.i + 1, self.where)
            return value
        start = self.i
        while self.i < len(self.text) and self.text[self.i] not in stop:
            self.i += 1
        if self.i >= len(self.text):
            raise self.fail("no closing bracket")
        return self.text[start : self.i].strip()


# ----- labels and images ---------------------------------------------------------------------


class _Dataset:
    """Label files matched to their images by a key: the path under the dataset folder without
    extension, with an images folder in an image's path turned into `labels`."""

    def __init__(
        self, folder: Path, classes: Classes, sizes: Mapping[str, tuple[int, int]]
    ) -> None:
        self.folder = folder
        self.classes = classes
        self.sizes = sizes
        self.notes: Counter[str] = Counter()
        # a size by the key given, by its file name, and by that name without extension
        self.given: dict[str, set[str]] = defaultdict(set)
        for key in sizes:
            name = PurePosixPath(key).name
            for short in (key, name, name.rsplit(".", 1)[0]):
                self.given[short].add(key)

    def read(self) -> ForeignSet:
        labels = sorted(set(self.folder.rglob("labels/**/*.txt")))
        nested = bool(labels)
        if not nested:
            labels = sorted(
                p
                for p in self.folder.rglob("*.txt")
                if not (p.parent == self.folder and p.name in IMAGE_LISTS)
            )
        images = self._images(nested)
        result = ForeignSet(FORMAT)
        names: set[str] = set()
        for label in labels:
            if not label.is_file():
                continue
            found = self._image(label, images.pop(self._key(label), None))
            if found.name in names:
                raise ForeignFormatError(
                    f"a second label for image {found.name!r}", self._where(label)
                )
            names.add(found.name)
            result.images.append(found)
        for image in images.values():  # background images: no label file, no objects
            result.images.append(ForeignImage(self._name(image), *self._size(image)))
        result.notes = [f"{count} {text}" for text, count in self.notes.items()]
        return result

    def _where(self, path: Path) -> str:
        return path.relative_to(self.folder).as_posix()

    def _name(self, image: Path) -> str:
        root = self.folder if image.is_relative_to(self.folder) else self.folder.parent
        return image.relative_to(root).as_posix()

    def _key(self, label: Path) -> str:
        return self._where(label.with_suffix(""))

    def _images(self, nested: bool) -> dict[str, Path]:
        """Every image of the dataset, by the key of its label file."""
        roots = [(self.folder, self.folder, "")]
        if (self.folder / "labels").is_dir() and not (self.folder / "images").is_dir():
            # an Aviary package: yolo/labels/<id>.txt, and images/<id>.jpg beside yolo/
            roots.append((self.folder.parent / "images", self.folder.parent / "images", "labels"))
        found: dict[str, Path] = {}
        for root, base, prefix in roots:
            for path in sorted(root.rglob("*")):
                if path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
                    continue
                parts = [*PurePosixPath(prefix).parts, *path.relative_to(base).parts]
                if nested and not prefix:
                    if "images" not in parts[:-1]:
                        continue
                    at = len(parts) - 2 - parts[-2::-1].index("images")
                    parts[at] = "labels"
                key = PurePosixPath(*parts).with_suffix("").as_posix()
                if key in found:
                    raise ForeignFormatError(
                        f"two images for one label file: {self._name(found[key])} and"
                        f" {self._name(path)}",
                        self._name(path),
                    )
                found[key] = path
        return found

    def _given(self, *keys: str) -> tuple[str, tuple[int, int]] | None:
        """The `sizes` entry of the first key that names exactly one."""
        for key in keys:
            given = self.given.get(key, set())
            if len(given) == 1:
                [name] = given
                width, height = self.sizes[name]
                return name, (int(width), int(height))
        return None

    def _size(self, image: Path) -> tuple[int, int]:
        given = self._given(self._name(image), image.name, image.stem)
        if given is not None:
            return given[1]
        try:
            return image_size(image)
        except (ImageSizeError, OSError) as exc:
            raise ForeignFormatError(f"its size cannot be read: {exc}", self._name(image)) from None

    def _image(self, label: Path, image: Path | None) -> ForeignImage:
        where = self._where(label)
        if image is not None:
            name = self._name(image)
            width, height = self._size(image)
        else:
            given = self._given(label.stem)
            if given is None:
                several = sorted(self.given.get(label.stem, set()))
                why = (
                    f"`sizes` has several images of that name ({', '.join(several)})"
                    if several
                    else "no image of that name (.jpg, .jpeg, .png, .webp) and no size given"
                )
                raise ForeignFormatError(
                    f"{why}: the size its coordinates are fractions of is unknown", where
                )
            name, (width, height) = given
        try:
            text = label.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ForeignFormatError("not UTF-8 text", where) from None
        shapes = [
            self._shape(line, width, height, f"{where}:{number}")
            for number, line in enumerate(text.splitlines(), 1)
            if line.strip()
        ]
        return ForeignImage(name, width, height, tuple(shapes))

    def _shape(self, line: str, width: int, height: int, where: str) -> ForeignShape:
        tokens = line.split()
        if not (tokens[0].isascii() and tokens[0].isdigit()):
            raise ForeignFormatError(f"the class {tokens[0]!r} is not a class number", where)
        label = self.classes.names.get(int(tokens[0]))
        if label is None:
            known = ", ".join(str(n) for n in sorted(self.classes.names))
            raise ForeignFormatError(f"class {tokens[0]} is not among the names ({known})", where)
        values: list[float] = []
        for token in tokens[1:]:
            try:
                value = float(token)
            except ValueError:
                value = math.nan
            if not math.isfinite(value):
                raise ForeignFormatError(f"{token!r} is not a number", where)
            values.append(value)
        count = len(values)
        kpt = self.classes.kpt_shape
        if kpt is not None and count == 4 + kpt[0] * kpt[1]:
            return self._pose(label, values, kpt[1], width, height, where)
        if count == 4:
            cx, cy, w, h = values
            if w < 0 or h < 0:
                raise ForeignFormatError("a box with a negative width or height", where)
            box = ((cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height)
            return ForeignShape(label, "bbox", bbox=box)
        if count >= 6 and count % 2 == 0:
            points = tuple((values[i] * width, values[i + 1] * height) for i in range(0, count, 2))
            return ForeignShape(label, "polygon", points=points)
        expected = "4 (a box) or an even number from 6 (a polygon)"
        if kpt is not None:
            expected += f" or {4 + kpt[0] * kpt[1]} (a box and {kpt[0]} keypoints)"
        raise ForeignFormatError(f"{count} numbers after the class; expected {expected}", where)

    def _pose(
        self, label: str, values: list[float], dims: int, width: int, height: int, where: str
    ) -> ForeignShape:
        self.notes["boxes of pose labels dropped (an Aviary keypoints shape has none)"] += 1
        points: list[Keypoint] = []
        for i in range(4, len(values), dims):
            x, y = values[i], values[i + 1]
            v = values[i + 2] if dims == 3 else 2.0
            if v not in (0.0, 1.0, 2.0):
                raise ForeignFormatError(
                    f"keypoint {(i - 4) // dims + 1} has visibility {v:g}, not 0, 1 or 2", where
                )
            if v == 0:
                points.append((0.0, 0.0, 0))  # not labeled: COCO's (0, 0), as Aviary keeps it
            else:
                points.append((x * width, y * height, 2 if v == 2 else 1))
        return ForeignShape(label, "keypoints", keypoints=tuple(points))
