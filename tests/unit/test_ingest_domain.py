"""Unit tests for ingest's pure rules (services/ingest/domain.py)."""

from __future__ import annotations

import hashlib
import io
import time

import pytest
from PIL import Image

from services.ingest.domain import (
    ImageInfo,
    check_ontology,
    check_vendor_shares,
    inspect_image,
    item_id,
    object_key,
    safe_file_name,
    wants_prelabels,
)
from shared.errors import AppError

LIMIT = 50_000_000


def encode(
    fmt: str, size: tuple[int, int] = (64, 48), mode: str = "RGB", **params: object
) -> bytes:
    """Real image bytes made by Pillow, with a gradient so the encoders have work to do."""
    width, height = size
    image = Image.new(mode, size)
    if mode == "RGB":
        image.putdata(
            [
                ((x * 4) % 256, (y * 4) % 256, (x + y) % 256)
                for y in range(height)
                for x in range(width)
            ]
        )
    buf = io.BytesIO()
    image.save(buf, fmt, **params)
    return buf.getvalue()


def jpeg_with_orientation(orientation: int, size: tuple[int, int] = (64, 48)) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode("JPEG", size, exif=exif)


def refused(data: bytes, max_pixels: int = LIMIT) -> AppError:
    with pytest.raises(AppError) as info:
        inspect_image(data, max_pixels)
    return info.value


@pytest.fixture(scope="module")
def huge_bilevel_png() -> bytes:
    """A 20000x20000 1-bit PNG: 400 megapixels in a few tens of KB."""
    buf = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(buf, "PNG")
    data = buf.getvalue()
    assert len(data) < 200_000
    return data


# ----- inspect_image: accepted formats -----------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "expected_format", "content_type"),
    [("JPEG", "jpeg", "image/jpeg"), ("PNG", "png", "image/png"), ("WEBP", "webp", "image/webp")],
)
def test_accepted_formats_are_described(fmt: str, expected_format: str, content_type: str) -> None:
    data = encode(fmt, (64, 48))
    info = inspect_image(data, LIMIT)
    assert info == ImageInfo(
        format=expected_format,
        width=64,
        height=48,
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        content_type=content_type,
    )


def test_width_and_height_are_not_swapped_for_plain_images() -> None:
    info = inspect_image(encode("PNG", (17, 301)), LIMIT)
    assert (info.width, info.height) == (17, 301)


def test_palette_and_alpha_png_are_accepted() -> None:
    assert inspect_image(encode("PNG", (10, 20), mode="P"), LIMIT).format == "png"
    assert inspect_image(encode("PNG", (10, 20), mode="RGBA"), LIMIT).format == "png"


def test_same_bytes_give_same_sha_and_different_bytes_differ() -> None:
    a = inspect_image(encode("PNG", (8, 8)), LIMIT)
    b = inspect_image(encode("PNG", (8, 8)), LIMIT)
    c = inspect_image(encode("PNG", (8, 9)), LIMIT)
    assert a.sha256 == b.sha256
    assert a.sha256 != c.sha256
    assert len(a.sha256) == 64


def test_image_at_exactly_the_pixel_limit_is_accepted() -> None:
    info = inspect_image(encode("PNG", (100, 50), mode="L"), max_pixels=5_000)
    assert (info.width, info.height) == (100, 50)


# ----- inspect_image: refusals --------------------------------------------------------------------


def test_empty_body_is_refused() -> None:
    err = refused(b"")
    assert (err.code, err.status_code) == ("empty_body", 400)


@pytest.mark.parametrize(
    "data", [b"hello, this is not an image", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", b"\x00" * 100]
)
def test_non_image_bytes_are_refused(data: bytes) -> None:
    err = refused(data)
    assert (err.code, err.status_code) == ("not_an_image", 415)


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF"])
def test_other_image_formats_are_unsupported(fmt: str) -> None:
    err = refused(encode(fmt))
    assert (err.code, err.status_code) == ("unsupported_format", 415)
    assert fmt in err.message


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_truncated_images_are_corrupt(fmt: str) -> None:
    data = encode(fmt, (200, 150))
    err = refused(data[: len(data) // 2])
    assert (err.code, err.status_code) == ("corrupt_image", 422)


@pytest.mark.parametrize("progressive", [False, True])
@pytest.mark.parametrize("cut", [0.5, 0.95])
def test_a_jpeg_cut_anywhere_in_its_scans_is_corrupt(progressive: bool, cut: float) -> None:
    """A JPEG is validated at its smallest DCT scale; every byte is still decoded."""
    data = encode("JPEG", (1920, 1080), progressive=progressive)
    err = refused(data[: int(len(data) * cut)])
    assert (err.code, err.status_code) == ("corrupt_image", 422)
    info = inspect_image(data, LIMIT)  # whole, it passes at its full size
    assert (info.width, info.height) == (1920, 1080)


def test_png_with_damaged_pixel_data_is_corrupt() -> None:
    data = bytearray(encode("PNG", (200, 150)))
    start = data.index(b"IDAT") + 4 + 20
    data[start : start + 40] = b"\xff" * 40
    err = refused(bytes(data))
    assert (err.code, err.status_code) == ("corrupt_image", 422)


def test_more_pixels_than_the_limit_is_refused() -> None:
    err = refused(encode("PNG", (101, 50), mode="L"), max_pixels=5_000)
    assert (err.code, err.status_code) == ("too_many_pixels", 413)


def test_pixel_bomb_is_refused_quickly_without_decoding(huge_bilevel_png: bytes) -> None:
    start = time.perf_counter()
    err = refused(huge_bilevel_png, max_pixels=1_000_000)
    elapsed = time.perf_counter() - start
    assert (err.code, err.status_code) == ("too_many_pixels", 413)
    assert elapsed < 1.0


def test_size_above_pillows_bomb_error_limit_is_refused_even_if_setting_allows(
    huge_bilevel_png: bytes,
) -> None:
    # 400 megapixels is above twice Pillow's MAX_IMAGE_PIXELS: Pillow raises DecompressionBombError.
    assert Image.MAX_IMAGE_PIXELS is not None
    assert 2 * Image.MAX_IMAGE_PIXELS < 20_000 * 20_000
    start = time.perf_counter()
    err = refused(huge_bilevel_png, max_pixels=10**12)
    assert time.perf_counter() - start < 1.0
    assert (err.code, err.status_code) == ("too_many_pixels", 413)


def test_size_above_pillows_bomb_warning_limit_is_refused() -> None:
    # 100 megapixels sits between MAX_IMAGE_PIXELS and twice that: Pillow only warns,
    # and the warning must still become a refusal rather than a slow full decode.
    assert Image.MAX_IMAGE_PIXELS is not None
    assert Image.MAX_IMAGE_PIXELS < 10_000 * 10_000 < 2 * Image.MAX_IMAGE_PIXELS
    buf = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(buf, "PNG")
    err = refused(buf.getvalue(), max_pixels=10**12)
    assert (err.code, err.status_code) == ("too_many_pixels", 413)


def test_jpeg_with_multi_picture_extension_is_accepted_as_jpeg() -> None:
    """A JPEG carrying an MPF second picture (phone HDR gain maps, depth maps, 3D cameras)
    is still a JPEG file that every JPEG decoder reads; Pillow reports it as "MPO"."""
    first = Image.new("RGB", (64, 48), (200, 10, 10))
    second = Image.new("RGB", (32, 24), (10, 200, 10))
    buf = io.BytesIO()
    first.save(buf, "MPO", save_all=True, append_images=[second])
    data = buf.getvalue()
    assert data[:3] == b"\xff\xd8\xff"  # a JPEG stream
    info = inspect_image(data, LIMIT)
    assert (info.format, info.width, info.height) == ("jpeg", 64, 48)
    assert info.content_type == "image/jpeg"


# ----- inspect_image: EXIF orientation -----------------------------------------------------------


@pytest.mark.parametrize("orientation", [5, 6, 7, 8])
def test_rotating_orientations_swap_width_and_height(orientation: int) -> None:
    info = inspect_image(jpeg_with_orientation(orientation, (64, 48)), LIMIT)
    assert (info.width, info.height) == (48, 64)


@pytest.mark.parametrize("orientation", [1, 2, 3, 4])
def test_non_rotating_orientations_keep_width_and_height(orientation: int) -> None:
    info = inspect_image(jpeg_with_orientation(orientation, (64, 48)), LIMIT)
    assert (info.width, info.height) == (64, 48)


def test_orientation_does_not_change_the_pixel_limit_check() -> None:
    err = refused(jpeg_with_orientation(6, (101, 50)), max_pixels=5_000)
    assert err.code == "too_many_pixels"


# ----- ids and keys ------------------------------------------------------------------------------

SHA = hashlib.sha256(b"some image bytes").hexdigest()
OTHER_SHA = hashlib.sha256(b"other image bytes").hexdigest()


def test_item_id_is_deterministic_and_prefixed() -> None:
    first = item_id("prj_1", SHA)
    assert first == item_id("prj_1", SHA)
    assert first.startswith("itm_")
    assert len(first) == len("itm_") + 24
    assert all(c in "0123456789abcdef" for c in first[4:])


def test_item_id_differs_across_projects_and_content() -> None:
    ids = {item_id("prj_1", SHA), item_id("prj_2", SHA), item_id("prj_1", OTHER_SHA)}
    assert len(ids) == 3


def test_object_key_is_under_the_org_prefix() -> None:
    key = object_key("org_acme", SHA)
    assert key.startswith("org_acme/")
    assert key.endswith(SHA)
    assert object_key("org_acme", SHA) == key
    assert object_key("org_other", SHA) != key
    assert object_key("org_acme", OTHER_SHA) != key


def test_object_key_comes_from_the_content_not_the_client_file_name() -> None:
    data = encode("PNG", (8, 8))
    info = inspect_image(data, LIMIT)
    names = ["../../etc/passwd", "cat.png", "..\\..\\windows\\system32", "a/b/c.png"]
    keys = set()
    for name in names:
        meta = safe_file_name(name)
        key = object_key("org_acme", info.sha256)
        keys.add(key)
        assert meta not in key
        assert ".." not in key.split("/")
    assert keys == {object_key("org_acme", hashlib.sha256(data).hexdigest())}


# ----- safe_file_name ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", [None, "", "\x00\x01\n\t\x7f"])
def test_empty_names_become_unnamed(name: str | None) -> None:
    assert safe_file_name(name) == "unnamed"


def test_non_printable_characters_are_stripped() -> None:
    assert safe_file_name("ca\x00t\n.p\x1bng\r") == "cat.png"
    assert safe_file_name("a\u200bb.jpg") == "ab.jpg"  # zero-width space


def test_unicode_is_kept() -> None:
    for name in ("фото_01.jpg", "写真 2024.png", "café.webp", "🐦 bird.jpg"):
        assert safe_file_name(name) == name


def test_length_is_bounded_to_255() -> None:
    assert safe_file_name("a" * 1000) == "a" * 255
    assert safe_file_name("é" * 300) == "é" * 255
    assert safe_file_name("x" * 255) == "x" * 255


def test_traversal_names_are_kept_as_metadata() -> None:
    assert safe_file_name("../../etc/passwd") == "../../etc/passwd"


# ----- check_vendor_shares -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "shares",
    [
        [("v1", 1.0)],
        [("v1", 0.5), ("v2", 0.5)],
        [("v1", 1 / 3), ("v2", 1 / 3), ("v3", 1 / 3)],
        [(f"v{i}", 0.1) for i in range(10)],
        [("v1", 0.7), ("v2", 0.2), ("v3", 0.1)],
    ],
)
def test_valid_vendor_shares_pass(shares: list[tuple[str, float]]) -> None:
    check_vendor_shares(shares)


@pytest.mark.parametrize(
    "shares",
    [
        [("v1", 0.5), ("v1", 0.5)],
        [("v1", 0.5), ("v2", 0.4)],
        [("v1", 0.6), ("v2", 0.6)],
        [("v1", 0.999)],
        [],
    ],
)
def test_invalid_vendor_shares_are_refused(shares: list[tuple[str, float]]) -> None:
    with pytest.raises(AppError) as info:
        check_vendor_shares(shares)
    assert info.value.code == "invalid_vendors"
    assert info.value.status_code == 422


# ----- check_ontology ----------------------------------------------------------------------------


def test_valid_ontology_passes() -> None:
    check_ontology([(1, "car"), (2, "person"), (3, "bicycle")])


@pytest.mark.parametrize(
    "classes",
    [
        [(1, "car"), (1, "person")],
        [(1, "car"), (2, "car")],
        [(1, "Car"), (2, "car")],
        [(1, "STRASSE"), (2, "straße")],
    ],
)
def test_ambiguous_ontology_is_refused(classes: list[tuple[int, str]]) -> None:
    with pytest.raises(AppError) as info:
        check_ontology(classes)
    assert info.value.code == "invalid_ontology"
    assert info.value.status_code == 422


def test_items_wait_for_pre_labels_only_where_the_project_has_a_pre_labeler() -> None:
    endpoint = {"url": "https://models.example.com/p", "secret": "s" * 16}
    assert wants_prelabels({"assist": {"prelabel_model": "cars"}})
    assert wants_prelabels({"assist": {"endpoint": endpoint}})
    # A segmenter helps people draw; it pre-labels nothing.
    assert not wants_prelabels({"assist": {"segmenter": "sam", "least_confident_first": True}})
    assert not wants_prelabels({})  # a project from before assist
