"""The zip being written: every file goes in hashed as it is written, nothing is kept."""

from __future__ import annotations

import hashlib
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from services.export.formats.model import ManifestEntry

CHUNK = 1024 * 1024


class HashingStream:
    """A file being streamed into the zip, hashed and counted on the way."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self._sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self._raw.write(data)
        self._sha.update(data)
        self.size += len(data)

    def copy_from(self, path: Path) -> None:
        """Append a local file, a chunk at a time."""
        with path.open("rb") as src:
            while chunk := src.read(CHUNK):
                self.write(chunk)

    def hexdigest(self) -> str:
        return self._sha.hexdigest()


class ZipSink:
    """Writes the package zip and records each file's path, sha256 and size for the manifest."""

    def __init__(self, zip_path: Path) -> None:
        self._zf = zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED)
        now = time.localtime()
        self._stamp = (now.tm_year, now.tm_mon, now.tm_mday, now.tm_hour, now.tm_min, now.tm_sec)
        self.entries: list[ManifestEntry] = []

    def _info(self, path: str, compress: bool) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(path, date_time=self._stamp)
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        info.external_attr = 0o644 << 16
        return info

    def write_bytes(self, path: str, data: bytes, *, compress: bool = True) -> None:
        """A small file, written whole (images are stored: they are compressed already)."""
        self._zf.writestr(self._info(path, compress), data)
        self.entries.append(ManifestEntry(path, hashlib.sha256(data).hexdigest(), len(data)))

    @contextmanager
    def stream(self, path: str, size_hint: int, *, listed: bool = True) -> Iterator[HashingStream]:
        """A large file, written in pieces; `size_hint` (about its size) picks ZIP64 if needed."""
        # zipfile cannot switch to ZIP64 once a streamed entry has started: leave a margin for
        # deflate's worst case, which is a little bigger than the input.
        big = size_hint + size_hint // 100 + CHUNK >= zipfile.ZIP64_LIMIT
        with self._zf.open(self._info(path, True), "w", force_zip64=big) as raw:
            out = HashingStream(raw)
            yield out
        if listed:
            self.entries.append(ManifestEntry(path, out.hexdigest(), out.size))

    def close(self) -> None:
        self._zf.close()
