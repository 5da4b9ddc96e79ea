"""The hostile corpus: each case is what an attacker or a broken client would send, and the
answer Aviary must give (status and machine-readable code)."""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass

from PIL import Image

from aviary_devkit.sim.scenes import generate_scene


@dataclass(frozen=True)
class Upload:
    name: str
    body: bytes
    status: int
    code: str


def _image(fmt: str, size: tuple[int, int] = (64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, "green").save(buf, fmt)
    return buf.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims a huge size over a few bytes of data: a decompression bomb."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def jpeg_with_broken_crc_png() -> bytes:
    """A PNG whose header chunk checksum is wrong."""
    good = bytearray(_image("PNG"))
    good[29] ^= 0xFF  # inside IHDR's CRC
    return bytes(good)


def jpeg() -> bytes:
    return generate_scene(7).jpeg_bytes()


def one_bit_bomb() -> bytes:
    """20000 x 20000 pixels in a few KB."""
    buf = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(buf, "PNG")
    return buf.getvalue()


UPLOADS: list[Upload] = [
    Upload("zero-bytes", b"", 400, "empty_body"),
    Upload("text-named-jpg", b"just some text, named photo.jpg", 415, "not_an_image"),
    Upload("html", b"<html><script>alert(1)</script></html>", 415, "not_an_image"),
    Upload(
        "svg-with-script",
        b'<svg xmlns="http://www.w3.org/2000/svg"><script/></svg>',
        415,
        "not_an_image",
    ),
    Upload("windows-executable", b"MZ\x90\x00" + b"\x00" * 200, 415, "not_an_image"),
    Upload("zip", b"PK\x03\x04" + b"\x00" * 200, 415, "not_an_image"),
    Upload("truncated-jpeg", jpeg()[:3000], 422, "corrupt_image"),
    Upload("jpeg-header-only", jpeg()[:200], 422, "corrupt_image"),
    Upload("truncated-png", _image("PNG")[:-30], 422, "corrupt_image"),
    Upload("png-bad-crc", jpeg_with_broken_crc_png(), 422, "corrupt_image"),
    Upload("truncated-webp", _image("WEBP")[:40], 422, "corrupt_image"),
    Upload("gif", _image("GIF"), 415, "unsupported_format"),
    Upload("pixel-bomb-1bit", one_bit_bomb(), 413, "too_many_pixels"),
    Upload("pixel-bomb-header", png_header_claiming(100_000, 100_000), 413, "too_many_pixels"),
]

# File names that try to escape a directory, hide their extension or break a terminal. They
# are metadata only: stored printable and bounded, never used as a storage key.
HOSTILE_NAMES: list[str] = [
    "../../../../etc/passwd.jpg",
    "..\\..\\windows\\win.ini.jpg",
    "/absolute/path.jpg",
    "photo\u202egpj.exe",  # right-to-left override: shows as "photoexe.jpg"
    "zero\u200bwidth.jpg",
    "new\nline\r.jpg",
    "nul\x00byte.jpg",
    "ansi\x1b[31mred.jpg",
    "CON.jpg",
    "x" * 5000 + ".jpg",
    "élan-日本語-🙂.jpg",
]


def nested_json(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def box(x: float, y: float, w: float, h: float, class_id: int = 1) -> dict[str, object]:
    return {"kind": "bbox", "class_id": class_id, "bbox": [x, y, w, h]}


def polygon(points: list[tuple[float, float]], class_id: int = 3) -> dict[str, object]:
    return {"kind": "polygon", "class_id": class_id, "points": [list(p) for p in points]}


@dataclass(frozen=True)
class BadShape:
    name: str
    shape: dict[str, object]
    status: int
    code: str


# Against a 640 x 480 image with classes 1 (car, box) and 3 (lane area, polygon).
BAD_SHAPES: list[BadShape] = [
    BadShape("outside-image", box(600, 400, 100, 100), 422, "outside_image"),
    BadShape("negative-size", box(10, 10, -5, 20), 422, "empty_box"),
    BadShape("unknown-class", box(10, 10, 5, 5, class_id=99), 422, "unknown_class"),
    BadShape("wrong-kind", polygon([(1, 1), (9, 1), (9, 9)], class_id=1), 422, "wrong_kind"),
    BadShape("bow-tie", polygon([(0, 0), (100, 100), (100, 0), (0, 50)]), 422, "self_intersecting"),
    BadShape("collinear", polygon([(0, 0), (50, 50), (100, 100)]), 422, "degenerate_polygon"),
    BadShape("huge-coordinates", box(1e308, 1e308, 1e308, 1e308), 422, "outside_image"),
    BadShape(
        "too-many-points",
        polygon([(i % 640, (i * 7) % 480) for i in range(20_001)]),
        422,
        "invalid_request",
    ),
]

# NaN and Infinity are not JSON, but Python's parser accepts them: sent as raw text.
NON_FINITE_BODIES: list[tuple[str, str]] = [
    ("nan", '{"kind": "bbox", "class_id": 1, "bbox": [NaN, 1, 2, 3]}'),
    ("infinity", '{"kind": "bbox", "class_id": 1, "bbox": [1, 1, Infinity, 3]}'),
    ("minus-infinity", '{"kind": "polygon", "class_id": 3, "points": [[0,0],[-Infinity,5],[5,5]]}'),
]

# Webhook and import URLs that point inside the platform's network.
INWARD_URLS: list[str] = [
    "http://127.0.0.1:8001/v1/orgs",
    "http://localhost/admin",
    "http://[::1]/",
    "http://10.0.0.5/",
    "http://172.16.3.4/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://0.0.0.0/",
    "http://2130706433/",  # 127.0.0.1 as one decimal number
    "http://0x7f000001/",
    "http://[::ffff:127.0.0.1]/",
    "file:///etc/passwd",
    "gopher://127.0.0.1:25/",
]
