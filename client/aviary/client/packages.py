"""Checking a delivery package: the zip's own checksum and every file against its manifest."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

from aviary.client.errors import VerificationError


def verify_package(data: bytes, expected_sha256: str | None = None) -> dict[str, Any]:
    """Raise VerificationError unless the zip and every file in it match; return the manifest."""
    if expected_sha256 is not None and hashlib.sha256(data).hexdigest() != expected_sha256:
        raise VerificationError("the package's sha256 does not match the delivery's")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            manifest: dict[str, Any] = json.loads(zf.read("manifest.json"))
            listed = {f["path"] for f in manifest["files"]}
            present = set(zf.namelist()) - {"manifest.json"}
            if listed != present:
                raise VerificationError(
                    f"manifest lists {len(listed)} files, the package holds {len(present)}"
                )
            for entry in manifest["files"]:
                if hashlib.sha256(zf.read(entry["path"])).hexdigest() != entry["sha256"]:
                    raise VerificationError(f"checksum mismatch for {entry['path']}")
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise VerificationError(f"not a readable delivery package: {exc}") from exc
    return manifest


def verify_file(path: Path, expected_sha256: str | None = None) -> dict[str, Any]:
    return verify_package(path.read_bytes(), expected_sha256)
