"""Label Studio's values, read one at a time: image names from task data, dates, scores,
numbers and percentages, points, per-region control values (labelstudio.py reads the export
with them)."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from aviary.contracts.shapes import AttributeValue, Point
from aviary.interop.foreign import ForeignFormatError

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".avif", ".heic"}
)
# Label Studio's upload names a file "<8 hex>-<original name>".
_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-(?=.)")


def image_name(value: str) -> str:
    """The file name a task's image URL or path gives (upload prefix stripped)."""
    parts = urlsplit(value)
    path = unquote(parts.path)
    local = parse_qs(parts.query).get("d")
    if local and path.rstrip("/").endswith("/data/local-files"):
        path = local[0]  # local storage serves files as /data/local-files/?d=<path>
    name = PurePosixPath(path.replace("\\", "/")).name
    if "/data/upload/" in parts.path:
        name = _UPLOAD_PREFIX.sub("", name)
    return name


def looks_like_image(value: object) -> bool:
    if not isinstance(value, str) or not value or value.startswith("data:"):
        return False
    name = image_name(value)
    return PurePosixPath(name).suffix.lower() in IMAGE_SUFFIXES


def tool_of(kind: str) -> str:
    return kind.lower().removesuffix("labels")


def entries_of(task: dict[str, Any], key: str, where: str) -> list[dict[str, Any]]:
    entries = task.get(key) or []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ForeignFormatError(f"`{key}` is a list of objects", where)
    return entries


def latest_entry(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The entry updated (else created) last; the later in the list on a tie or no time."""

    def when(pair: tuple[int, dict[str, Any]]) -> tuple[float, int]:
        index, entry = pair
        stamp = entry.get("updated_at") or entry.get("created_at")
        try:
            moment = datetime.fromisoformat(str(stamp))
        except ValueError:
            return -math.inf, index
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp(), index

    return max(enumerate(entries), key=when)[1]


def score_of(value: object) -> float | None:
    """A confidence Aviary can keep (0..1), or None."""
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1:
        return float(value)
    return None


def result_score(result: dict[str, Any], fallback: float | None) -> float | None:
    own = score_of(result.get("score"))
    return own if own is not None else fallback


def dimension_of(value: object, key: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise ForeignFormatError(f"`{key}` is a whole number of pixels", where)
    if value < 1:
        raise ForeignFormatError(f"`{key}` is at least 1", where)
    return int(value)


def number_of(value: object, what: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ForeignFormatError(f"{what} is a number", where)
    return float(value)


def percent_of(value: dict[str, Any], key: str, where: str) -> float:
    return number_of(value.get(key), f"`{key}`", where)


def points_of(points: list[Any], width: int, height: int, where: str) -> tuple[Point, ...]:
    found: list[Point] = []
    for point in points:
        if not isinstance(point, list | tuple) or len(point) != 2:
            raise ForeignFormatError("a point is [x, y]", where)
        x = number_of(point[0], "a point's x", where)
        y = number_of(point[1], "a point's y", where)
        found.append((x * width / 100, y * height / 100))
    return tuple(found)


def control_value(kind: str, value: dict[str, Any]) -> str | None:
    """The one value of a choices result, or a textarea's texts joined by line feeds; None
    where there is not one (several choices, another type)."""
    if kind == "choices" and isinstance(value.get("choices"), list):
        chosen = [str(c) for c in value["choices"]]
        return chosen[0] if len(chosen) == 1 else None
    if kind == "textarea" and isinstance(value.get("text"), list):
        return "\n".join(str(t) for t in value["text"])
    return None


def typed_value(value: str, kind: str | None) -> AttributeValue:
    """A boolean attribute's "true" / "false" as a boolean; anything else as it is."""
    if kind == "boolean" and value in ("true", "false"):
        return value == "true"
    return value
