"""Assist's image cache (services/assist/images.py): an image is read and decoded once, calls
that arrive together share that read, and what is kept stays under its byte bound, the least
recently used going first. Object storage is a stand-in that counts reads."""

from __future__ import annotations

import asyncio
import json
from typing import Any, cast

import cv2
import numpy as np
import pytest

from services.assist.cpu import CpuPool
from services.assist.images import ImageCache
from services.assist.repositories import KnownItem, VideoFrames
from shared.errors import AppError
from shared.store.storage import ObjectStorage, content_key

SIDE = 64
IMAGE_BYTES = SIDE * SIDE * 3


def png(value: int) -> bytes:
    ok, data = cv2.imencode(".png", np.full((SIDE, SIDE, 3), value, np.uint8))
    assert ok
    return data.tobytes()


class Storage:
    """Objects by (bucket, key); every read counted, each taking a moment."""

    def __init__(self, objects: dict[tuple[str, str], bytes]) -> None:
        self.objects = objects
        self.reads: list[str] = []

    async def get_bytes(self, bucket: str, key: str) -> bytes:
        self.reads.append(key)
        await asyncio.sleep(0.01)
        return self.objects[(bucket, key)]


def item(item_id: str, video: VideoFrames | None = None) -> KnownItem:
    return KnownItem(item_id, "p", "org", "b", "video" if video else "image", "images",
                     f"key-{item_id}", SIDE, SIDE, video)  # fmt: skip


@pytest.fixture
async def pool() -> Any:
    cpu = CpuPool(2)
    yield cpu
    await cpu.close()


def cache_of(storage: Storage, pool: CpuPool, max_bytes: int) -> ImageCache:
    return ImageCache(cast(ObjectStorage, storage), max_bytes, pool)


async def test_an_image_is_read_once_even_when_calls_arrive_together(pool: CpuPool) -> None:
    storage = Storage({("images", "key-a"): png(10)})
    cache = cache_of(storage, pool, 10 * IMAGE_BYTES)
    pictures = await asyncio.gather(*(cache.picture(item("a")) for _ in range(8)))
    assert storage.reads == ["key-a"]
    assert all(p.pixels[0, 0, 0] == 10 and (p.width, p.height) == (SIDE, SIDE) for p in pictures)
    await cache.picture(item("a"))
    assert storage.reads == ["key-a"]
    assert not pictures[0].pixels.flags.writeable  # shared: nobody may draw on it


async def test_what_is_kept_stays_under_the_bound_least_recently_used_out(pool: CpuPool) -> None:
    storage = Storage({("images", f"key-{n}"): png(i) for i, n in enumerate("abc")})
    cache = cache_of(storage, pool, 2 * IMAGE_BYTES)
    await cache.picture(item("a"))
    await cache.picture(item("b"))
    await cache.picture(item("a"))  # a is used again: b is now the oldest
    await cache.picture(item("c"))
    assert cache.kept_bytes == 2 * IMAGE_BYTES
    await cache.picture(item("a"))
    assert storage.reads == ["key-a", "key-b", "key-c"]
    await cache.picture(item("b"))
    assert storage.reads[-1] == "key-b"
    assert cache.kept_bytes <= 2 * IMAGE_BYTES


async def test_a_videos_frame_is_found_through_its_manifest(pool: CpuPool) -> None:
    manifest = {"frames": ["f0", "f1", "f2"]}
    storage = Storage(
        {
            ("images", "key-v"): png(0),
            ("images", "v/manifest.json"): json.dumps(manifest).encode(),
            ("images", content_key("org", "f2")): png(2),
        }
    )
    cache = cache_of(storage, pool, 10 * IMAGE_BYTES)
    video = item("v", VideoFrames("images", "v/manifest.json", 3))
    assert (await cache.picture(video, 2)).pixels[0, 0, 0] == 2
    assert (await cache.picture(video, 0)).pixels[0, 0, 0] == 0
    with pytest.raises(AppError) as caught:
        await cache.picture(item("w", VideoFrames("images", "v/manifest.json", 9)), 5)
    assert caught.value.code == "frame_out_of_range"


async def test_bytes_that_are_no_image_are_refused(pool: CpuPool) -> None:
    cache = cache_of(Storage({("images", "key-x"): b"not an image"}), pool, IMAGE_BYTES)
    with pytest.raises(AppError) as caught:
        await cache.picture(item("x"))
    assert (caught.value.status_code, caught.value.code) == (422, "undecodable_image")
