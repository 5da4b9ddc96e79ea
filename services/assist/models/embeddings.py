"""Image embeddings of promptable segmenters: computed once per image, so a click costs only
the decoder.

The encoder is the slow half of a SAM-class model (seconds on a CPU); its output depends on
the image alone. It is computed after ingest for items of projects whose segmenter is
promptable, stored in object storage (one `.npy` per encoder and image, so every replica and a
restart find it) and the most recent ones kept in memory.
"""

from __future__ import annotations

import asyncio
import io
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable

import numpy as np

from aviary.contracts.assist import ModelRead
from services.assist.models.files import ModelFiles, sha256_of
from services.assist.models.runner import ModelRunner
from shared.vision.detector_model import Floats, Rgb

# Embeddings kept in memory: a SAM ViT-B one is 4 MiB (1 x 256 x 64 x 64 floats).
DEFAULT_KEPT_BYTES = 256 * 1024 * 1024
_SAFE_KEY = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


def picture_key(item_id: str, frame: int = 0) -> str:
    """What an embedding is stored under for one image of an item (a video: one frame)."""
    key = f"{item_id}-{frame}"
    return key if _SAFE_KEY.match(key) else sha256_of(key.encode())


def to_npy(array: Floats) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def from_npy(data: bytes) -> Floats:
    array = np.load(io.BytesIO(data), allow_pickle=False)
    return np.ascontiguousarray(array, dtype=np.float32)


class EmbeddingCache:
    """Embeddings by (encoder file, picture): memory, then object storage, then the encoder."""

    def __init__(
        self, runner: ModelRunner, files: ModelFiles, kept_bytes: int = DEFAULT_KEPT_BYTES
    ) -> None:
        self.runner = runner
        self.files = files
        self.kept_bytes = kept_bytes
        self._kept: OrderedDict[tuple[str, str], Floats] = OrderedDict()
        self._bytes = 0
        self._computing: dict[tuple[str, str], asyncio.Lock] = {}

    def _remember(self, key: tuple[str, str], embedding: Floats) -> None:
        if key in self._kept:
            return
        self._kept[key] = embedding
        self._bytes += embedding.nbytes
        while self._bytes > self.kept_bytes and self._kept:
            _, dropped = self._kept.popitem(last=False)
            self._bytes -= dropped.nbytes

    @staticmethod
    def key_of(model: ModelRead, picture: str) -> tuple[str, str]:
        """(encoder file, picture at the encoder's input side): versions sharing an encoder
        share its embeddings, unless their manifests feed it at another size."""
        return model.files["encoder"], f"{picture}-s{max(model.manifest.input_size)}"

    def in_memory(self, model: ModelRead, picture: str) -> bool:
        return self.key_of(model, picture) in self._kept

    async def get(
        self, model: ModelRead, picture: str, pixels: Callable[[], Awaitable[Rgb]]
    ) -> Floats:
        """The embedding of `picture` by `model`'s encoder; `pixels` gives the RGB image when
        it has to be computed (so a cached one never decodes the image)."""
        key = self.key_of(model, picture)
        embedding = self._kept.get(key)
        if embedding is not None:
            self._kept.move_to_end(key)
            return embedding
        lock = self._computing.setdefault(key, asyncio.Lock())
        async with lock:  # two clicks on a new image: one encoder run
            embedding = self._kept.get(key)
            if embedding is None:
                stored = await self.files.get_embedding(*key)
                if stored is not None:
                    embedding = from_npy(stored)
                else:
                    embedding = await self.runner.embed(model, await pixels())
                    await self.files.put_embedding(*key, to_npy(embedding))
                self._remember(key, embedding)
        self._computing.pop(key, None)
        return embedding
