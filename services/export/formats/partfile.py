"""A document for the whole package (a JSON array, an XML file) written as items come.

The entries go to a part file in the package's work folder; `finish` streams the document's
head, the part file and its tail into the zip. Memory stays flat however many items there are.
"""

from __future__ import annotations

from pathlib import Path

from services.export.formats.zipsink import ZipSink

BUFFER = 1 << 20


class PartFile:
    def __init__(self, path: Path, separator: str = "") -> None:
        self.path = path
        self.separator = separator  # between entries ("," in a JSON array)
        self.entries = 0
        self._part = path.open("wb", buffering=BUFFER)

    def add(self, text: str) -> None:
        """One entry (preceded by the separator after the first)."""
        self._part.write(((self.separator if self.entries else "") + text).encode())
        self.entries += 1

    def finish(self, sink: ZipSink, path: str, head: bytes = b"", tail: bytes = b"") -> None:
        self._part.close()
        size = len(head) + self.path.stat().st_size + len(tail)
        with sink.stream(path, size) as out:
            out.write(head)
            out.copy_from(self.path)
            out.write(tail)

    def abort(self) -> None:
        self._part.close()
