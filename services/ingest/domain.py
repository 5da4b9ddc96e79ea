"""Ingest's pure rules: image inspection, ids, project validation, outgoing events. No I/O here."""

from __future__ import annotations

import hashlib
import io
import math
import secrets
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, UnidentifiedImageError

from aviary.contracts.assist import AssistSettings
from aviary.contracts.projects import AUDIO_FORMATS, IMAGE_FORMATS, VIDEO_FORMATS, MediaKind
from aviary.contracts.shapes import OntologyClass
from shared.errors import AppError
from shared.events import Envelope, EventData
from shared.observability import correlation_id
from shared.security.urlsafety import UnsafeUrl, parse_networks, refuse_inward_literal
from shared.store.storage import content_key

ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP"})
# Pillow names a JPEG with a multi-picture segment (phone HDR gain maps, depth maps) "MPO";
# it is an ordinary JPEG to every decoder.
FORMAT_ALIASES = {"MPO": "JPEG"}
EXIF_ORIENTATION = 0x0112
# Orientations 5-8 rotate by 90 or 270 degrees: the displayed size swaps width and height.
SWAPPING_ORIENTATIONS = frozenset({5, 6, 7, 8})
ORIENTATION_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int
    sha256: str
    size_bytes: int
    content_type: str
    preview: bytes | None = field(default=None, repr=False, compare=False)  # WebP for the UIs
    data: bytes = field(default=b"", repr=False, compare=False)  # as uploaded, stored unchanged


PREVIEW_PX = 320


def invalid(code: str, message: str, status: int = 422) -> AppError:
    return AppError(code, message, status_code=status)


# The first bytes of JPEG, PNG and WebP files.
ACCEPTED_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"RIFF")


def inspect_image(data: bytes, max_pixels: int, preview_px: int | None = None) -> ImageInfo:
    """Decode the bytes fully and describe them; refuse anything that is not a whole image.

    With `preview_px`, also make a WebP preview at most that many pixels on its long side.
    JPEGs are decoded at the smallest DCT scale that still covers the preview, or at the
    smallest of all without one (every byte of the stream is still decoded, so truncation
    is still caught) at a fraction of the cost.
    """
    if not data:
        raise invalid("empty_body", "the upload is empty", 400)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            fmt = FORMAT_ALIASES.get(image.format or "", image.format or "")
            if fmt not in ACCEPTED_FORMATS:
                raise invalid(
                    "unsupported_format",
                    f"format {fmt or 'unknown'} is not accepted; send JPEG, PNG or WebP",
                    415,
                )
            width, height = image.size
            if width * height > max_pixels:
                raise invalid(
                    "too_many_pixels",
                    f"{width}x{height} exceeds the limit of {max_pixels} pixels",
                    413,
                )
            orientation = image.getexif().get(EXIF_ORIENTATION, 1)
            if fmt == "JPEG":
                # The smallest DCT scale that covers the preview, or the smallest of all:
                # every byte of the stream is still decoded, so truncation is still caught.
                scale = min(1.0, (preview_px or 1) / max(width, height))
                image.draft("RGB", (math.ceil(width * scale), math.ceil(height * scale)))
            image.load()  # a whole decode is the only reliable truncation check
            preview = make_preview(image, orientation, preview_px) if preview_px else None
    except AppError:
        raise
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as exc:
        if isinstance(exc, UnidentifiedImageError):
            if data.startswith(ACCEPTED_SIGNATURES):  # says it is one of ours, but is broken
                raise invalid("corrupt_image", "the image could not be decoded") from exc
            raise invalid("not_an_image", "the upload is not a readable image", 415) from exc
        raise invalid("too_many_pixels", "the image exceeds the pixel limit", 413) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise invalid("corrupt_image", f"the image could not be decoded: {exc}") from exc
    if orientation in SWAPPING_ORIENTATIONS:
        width, height = height, width
    return ImageInfo(
        format=fmt.lower(),
        width=width,
        height=height,
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        content_type=Image.MIME.get(fmt, "application/octet-stream"),
        preview=preview,
        data=data,
    )


def preview_of(data: bytes, preview_px: int) -> bytes:
    """The preview of stored, already validated image bytes."""
    info = inspect_image(
        data, max_pixels=Image.MAX_IMAGE_PIXELS or 89_000_000, preview_px=preview_px
    )
    assert info.preview is not None
    return info.preview


def make_preview(image: Image.Image, orientation: int, preview_px: int) -> bytes:
    """Upright (EXIF applied), at most `preview_px` on the long side, WebP."""
    small = image.convert("RGB") if image.mode not in ("RGB", "L") else image.copy()
    small.thumbnail((preview_px, preview_px))
    if orientation in ORIENTATION_TRANSPOSE:
        small = small.transpose(ORIENTATION_TRANSPOSE[orientation])
    out = io.BytesIO()
    small.save(out, "WEBP", quality=70, method=0)
    return out.getvalue()


def new_id(prefix: str) -> str:
    """A new record's id (`org_...`, `prj_...`, `bat_...`, `upl_...`, `imp_...`)."""
    return f"{prefix}_{secrets.token_hex(10)}"


def envelope(event: EventData, org_id: str) -> Envelope:
    """An outgoing event, for the outbox, with the request's correlation id."""
    return Envelope.wrap(event, org_ids=(org_id,), correlation_id=correlation_id.get())


def item_id(project_id: str, sha256: str) -> str:
    """Items are content-addressed per project: the same bytes in a project are one item."""
    return "itm_" + hashlib.sha256(f"{project_id}:{sha256}".encode()).hexdigest()[:24]


def object_key(org_id: str, sha256: str) -> str:
    """The storage key under the client's prefix; file names never become keys."""
    return content_key(org_id, sha256)


def redacted_key(org_id: str, sha256: str) -> str:
    """Where a picture's blurred copy goes (faces and plates, `privacy.redaction`)."""
    return f"{org_id}/redacted/{sha256[:2]}/{sha256}.jpg"


def preview_key(org_id: str, sha256: str) -> str:
    return f"{org_id}/previews/{sha256[:2]}/{sha256}.webp"


def safe_file_name(name: str | None) -> str:
    """Client file names are metadata only; keep them printable and bounded."""
    cleaned = "".join(ch for ch in (name or "") if ch.isprintable())
    return cleaned[:255] or "unnamed"


def check_vendor_shares(shares: list[tuple[str, float]]) -> None:
    """Shares name distinct vendors and add up to 1."""
    ids = [vendor for vendor, _ in shares]
    if len(set(ids)) != len(ids):
        raise invalid("invalid_vendors", "each vendor may appear once in vendors")
    total = sum(share for _, share in shares)
    if abs(total - 1.0) > 1e-6:
        raise invalid("invalid_vendors", f"vendor shares must add up to 1, not {total:g}")


def check_ontology(classes: list[tuple[int, str]]) -> None:
    """Class ids and names are unique, so annotations and exports are unambiguous."""
    ids = [cid for cid, _ in classes]
    names = [name.casefold() for _, name in classes]
    dup_ids = sorted({i for i in ids if ids.count(i) > 1})
    if dup_ids:
        raise invalid("invalid_ontology", f"class ids must be unique; repeated: {dup_ids}")
    dup_names = sorted({n for n in names if names.count(n) > 1})
    if dup_names:
        raise invalid("invalid_ontology", f"class names must be unique; repeated: {dup_names}")


def check_class_geometry(classes: Sequence[OntologyClass]) -> None:
    """Each class's geometry and attributes are complete and consistent."""
    for cls in classes:
        where = f"class {cls.id} ({cls.name})"
        if cls.kind == "keypoints":
            if cls.skeleton is None:
                raise invalid("invalid_ontology", f"{where}: keypoints need a skeleton")
            n = len(cls.skeleton.keypoints)
            bad = [e for e in cls.skeleton.edges if not (1 <= e[0] <= n and 1 <= e[1] <= n)]
            if bad:
                raise invalid(
                    "invalid_ontology",
                    f"{where}: skeleton edges {bad} name keypoints outside 1..{n}",
                )
        elif cls.skeleton is not None:
            raise invalid("invalid_ontology", f"{where}: only keypoint classes have a skeleton")
        names = [a.name for a in cls.attributes]
        if len(set(names)) != len(names):
            raise invalid("invalid_ontology", f"{where}: attribute names must be unique")
        for attr in cls.attributes:
            if attr.type == "enum" and not attr.options:
                raise invalid(
                    "invalid_ontology", f"{where}: enum attribute {attr.name!r} needs options"
                )
            if attr.type != "enum" and attr.options:
                raise invalid(
                    "invalid_ontology",
                    f"{where}: only enum attributes have options ({attr.name!r})",
                )


TRACKED_KINDS = frozenset({"bbox", "polygon", "polyline", "keypoints"})


def check_media(
    media: MediaKind,
    classes: Sequence[OntologyClass],
    formats: Sequence[str],
) -> None:
    """What a project's media kind allows: image and video projects need classes, a video
    project tracks objects, and each kind delivers in its own formats."""
    allowed = {"image": IMAGE_FORMATS, "video": VIDEO_FORMATS, "audio": AUDIO_FORMATS}[media]
    if wrong := sorted(set(formats) - allowed):
        raise invalid(
            "invalid_formats",
            f"{'an' if media == 'audio' else 'a'} {media} project delivers in "
            f"{sorted(allowed)}, not {wrong}",
        )
    if media != "audio" and not classes:
        raise invalid("invalid_ontology", f"a {media} project needs at least one class")
    if media != "video":
        return
    if untracked := [c.name for c in classes if c.kind not in TRACKED_KINDS]:
        raise invalid(
            "invalid_ontology",
            f"video classes are tracked as boxes, polygons, polylines or keypoints: {untracked}",
        )


def wants_prelabels(project: Mapping[str, Any]) -> bool:
    """Whether the project's items wait for a pre-labeler: dispatch then makes their tasks
    from the `item.prelabeled` assist publishes, not from `item.ingested`."""
    return AssistSettings.model_validate(project.get("assist") or {}).prelabels


UPLOAD_ROUTES: dict[str, str] = {
    "image": "/v1/batches/{id}/items",
    "video": "/v1/batches/{id}/videos",
    "audio": "/v1/batches/{id}/recordings",
}


def check_upload_media(project_media: str, uploaded: MediaKind) -> None:
    """415 `wrong_media` when a project of one media kind is sent another, naming the route
    its kind of file goes to."""
    if project_media != uploaded:
        raise AppError(
            "wrong_media",
            f"this project labels {project_media} files; upload them to "
            f"{UPLOAD_ROUTES.get(project_media, UPLOAD_ROUTES['image'])}",
            status_code=415,
        )


def refuse_unsafe_urls(urls: list[str], allowed_cidrs: list[str]) -> None:
    """422 `unsafe_url` naming each URL that points inside the platform's network."""
    allowed = parse_networks(allowed_cidrs)
    problems = []
    for index, url in enumerate(urls):
        try:
            refuse_inward_literal(url, allowed)
        except UnsafeUrl as exc:
            problems.append({"index": index, "url": url[:300], "message": str(exc)})
    if problems:
        raise AppError(
            "unsafe_url",
            f"{len(problems)} URL(s) point inside the platform's network",
            status_code=422,
            details=problems[:100],
        )
