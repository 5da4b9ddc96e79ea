"""Which image file on disk each foreign image names.

Files name their images in their own way: a path relative to the export (`images/a.jpg`), a
URL (`/data/upload/3/a.jpg`), or a bare file name. An image is the file at that relative path
under the folder, or else the one file of that name anywhere below it; a name two files share,
or no file has, is refused (the import uploads nothing until every image is found).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path, PurePosixPath

from aviary.interop.foreign import ForeignSet

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp"})


def find_images(foreign: ForeignSet, folder: Path) -> tuple[dict[str, Path], list[str]]:
    """{foreign image name: file}, and the refusals."""
    by_name: dict[str, list[Path]] = defaultdict(list)
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
            by_name[path.name].append(path)
    found: dict[str, Path] = {}
    refused: list[str] = []
    root = folder.resolve()
    for image in foreign.images:
        relative = PurePosixPath(image.name.split("?")[0])
        direct = (folder / relative).resolve() if not relative.is_absolute() else None
        if direct is not None and direct.is_relative_to(root) and direct.is_file():
            found[image.name] = direct
            continue
        candidates = by_name.get(relative.name, [])
        if len(candidates) == 1:
            found[image.name] = candidates[0]
        elif candidates:
            refused.append(
                f"image {image.name!r}: {len(candidates)} files under {folder} have that name"
            )
        else:
            refused.append(f"image {image.name!r}: no such file under {folder}")
    return found, refused
