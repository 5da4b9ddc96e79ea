"""Export's pure rules: what goes into a package, webhook bodies and back-off."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from aviary.contracts.projects import AUDIO_FORMATS, IMAGE_FORMATS, VIDEO_FORMATS
from shared.errors import AppError
from shared.events import ProjectUpserted


def check_formats(project: ProjectUpserted, formats: Sequence[str] | None) -> None:
    """422 `invalid_formats` for a format the project's media kind has no writer for."""
    allowed = {"image": IMAGE_FORMATS, "video": VIDEO_FORMATS, "audio": AUDIO_FORMATS}[
        project.media
    ]
    if formats and (wrong := sorted(set(formats) - allowed)):
        raise AppError(
            "invalid_formats",
            f"a {project.media} project delivers in {sorted(allowed)}, not {wrong}",
            status_code=422,
        )


def delivery_options(project: ProjectUpserted, overrides: dict[str, Any]) -> dict[str, Any]:
    """What goes into a package: the project's defaults, unless the request says otherwise."""
    return {
        "formats": sorted(set(overrides.get("formats") or project.delivery_formats)),
        "include_images": overrides.get("include_images", project.include_images),
        "include_people": project.include_people,
    }


def webhook_delay_s(attempt: int, base_s: float, max_s: float) -> float:
    """Exponential back-off after the `attempt`-th failure (from 1), capped."""
    return float(min(max_s, base_s * 2 ** (attempt - 1)))


def webhook_body(
    delivery: dict[str, Any], download_url: str, expires_in_s: int, sent_at: datetime
) -> bytes:
    """The JSON a client's endpoint receives when a delivery is ready."""
    return json.dumps(
        {
            "event": "delivery.ready",
            "delivery_id": delivery["_id"],
            "kind": delivery["kind"],
            "project_id": delivery["project_id"],
            "batch_id": delivery["batch_id"],
            "images": delivery.get("images"),
            "annotations": delivery.get("annotations"),
            "formats": (delivery.get("options") or {}).get("formats"),
            "sha256": delivery.get("sha256"),
            "size_bytes": delivery.get("size_bytes"),
            "download_url": download_url,
            "download_expires_in_s": expires_in_s,
            "sent_at": sent_at.isoformat(),
        },
        separators=(",", ":"),
    ).encode()
