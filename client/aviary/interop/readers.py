"""Every reader by the name `aviary import --from` takes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from aviary.interop import coco, cvat, labelstudio, voc, yolo
from aviary.interop.foreign import ForeignSet

READERS: dict[str, Callable[[Path], ForeignSet]] = {
    "labelstudio": labelstudio.read,
    "cvat": cvat.read,
    "coco": coco.read,
    "yolo": yolo.read,
    "voc": voc.read,
}


def read(fmt: str, path: Path) -> ForeignSet:
    return READERS[fmt](path)
