"""What every format of an image delivery package does, as the package writer calls it.

A format is made with the zip it writes into, a private folder for its part files and the
package's spec. `add` is called once per item, in order: per-item files (YOLO labels, VOC and
KITTI documents) go straight into the zip; formats that are one document for the whole set
(COCO, JSONL, Label Studio, CVAT, Datumaro) append to part files (partfile.py) and stream them
into the zip in `finish`. `abort` closes what is open when the package is thrown away.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path
from typing import Protocol

from services.export.formats.model import PackageItem, PackageSpec
from services.export.formats.zipsink import ZipSink


class FormatWriter(Protocol):
    def add(self, item: PackageItem, file_name: str) -> Collection[int] | None:
        """Write the item; the indexes of its shapes the format could carry (None: all)."""
        ...

    def finish(self, sink: ZipSink) -> None: ...

    def abort(self) -> None: ...


MakeWriter = Callable[[ZipSink, Path, PackageSpec], FormatWriter]


class PerItemFormat:
    """A format whose files are each item's own, written as the item comes: nothing is left
    to write at the end, and nothing is open."""

    def finish(self, sink: ZipSink) -> None:
        return None

    def abort(self) -> None:
        return None
