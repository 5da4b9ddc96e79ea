"""Fetch the speech detector's model (services/ingest/vad.py) into services/ingest/models/.

The model is Silero VAD's sequence export, shipped inside the `silero-vad` wheel. That
package's Python code imports torch, so it is never installed: pip only downloads the wheel
(a zip), and this script takes the one model file out of it and checks its hash. Run by
`make install`; does nothing when the model is there already. The server's wheel ships the
file as package data (setup.py); git does not hold it (.gitignore).

    python scripts/vad_model.py
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VERSION = "6.2.3"
MEMBER = "silero_vad/data/silero_vad_16k_sequence.onnx"
TARGET = ROOT / "services" / "ingest" / "models" / "silero_vad_16k_sequence.onnx"
# The file as released in silero-vad 6.2.3: a changed upload is refused, not shipped.
SHA256 = "9ccdacc4719d8aa7e45a77536bfabec45a03ba1f2fad5e241ab4060b24238a85"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch() -> bytes:
    """The model file's bytes, from the silero-vad wheel pip downloads (its dependencies,
    torch among them, are not)."""
    with tempfile.TemporaryDirectory(prefix="aviary-vad-") as folder:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                f"silero-vad=={VERSION}",
                "--no-deps",
                "--only-binary=:all:",
                "--quiet",
                "-d",
                folder,
            ],
            check=True,
        )
        wheel = next(Path(folder).glob("silero_vad-*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            return archive.read(MEMBER)


def main() -> None:
    if TARGET.is_file() and _sha256(TARGET.read_bytes()) == SHA256:
        return
    data = fetch()
    if _sha256(data) != SHA256:
        sys.exit(f"{MEMBER} in silero-vad {VERSION} is not the file expected (sha256 differs)")
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    partial = TARGET.with_suffix(".part")
    partial.write_bytes(data)
    partial.replace(TARGET)  # whole or absent: never a half-written model
    print(f"speech detector model: {TARGET.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
