"""CVAT for images 1.1 XML (to be written)."""

from __future__ import annotations

from pathlib import Path

from services.export.formats.model import PackageItem, PackageSpec
from services.export.formats.zipsink import ZipSink


class CvatImagesFormat:
    def __init__(self, sink: ZipSink, parts: Path, spec: PackageSpec) -> None:
        raise NotImplementedError("CVAT for images is being written")

    def add(self, item: PackageItem, file_name: str) -> list[int]:
        raise NotImplementedError

    def finish(self, sink: ZipSink) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError
