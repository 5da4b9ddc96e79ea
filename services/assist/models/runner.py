"""Running operator models with onnxruntime: one session per model file, kept while used.

A session (opened by shared/vision/detector_model.py) is made once per file (its sha256: a
version's files never change) and the most recently used ones are kept; sessions are
thread-safe, so runs go to worker threads, a few at a time, and the event loop never waits on
inference. The CUDA provider is used when this onnxruntime build has it (a GPU node), the CPU
one otherwise.
"""

from __future__ import annotations

import asyncio
import os
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from aviary.contracts.assist import ModelRead
from services.assist.models.files import ModelFiles
from services.assist.models.imaging import (
    BoolMask,
    detector_input,
    mask_to_image,
    sam_encoder_input,
    sam_mask_to_image,
    sam_resized_size,
)
from services.assist.models.tasks import Signature, Tensor
from shared.vision.detector_model import (
    Array,
    Floats,
    Letterbox,
    Rgb,
    batchless,
    execution_providers,
    letterbox,
    open_session,
    read_boxes,
)

MASK_THRESHOLD = 0.5


def signature_of(session: Any) -> Signature:
    def tensors(args: Sequence[Any]) -> tuple[Tensor, ...]:
        return tuple(
            Tensor(a.name, a.type, None if a.shape is None else tuple(a.shape)) for a in args
        )

    return Signature(tensors(session.get_inputs()), tensors(session.get_outputs()))


@dataclass(frozen=True)
class Detection:
    """One object a detector found: the index of its label in the manifest's `labels`, its
    score, its box (left, top, width, height) and, from a segmenter, its mask, in image pixels."""

    label: int
    score: float
    box: tuple[float, float, float, float]
    mask: BoolMask | None = None


@dataclass(frozen=True)
class Prompt:
    """Points in image pixels, labelled as SAM's decoder reads them: 1 inside the object,
    0 outside it, 2 and 3 a box's top-left and bottom-right corners."""

    points: tuple[tuple[float, float], ...]
    labels: tuple[int, ...]

    @property
    def has_box(self) -> bool:
        return 2 in self.labels


def read_detections(
    outputs: Mapping[str, Array], box: Letterbox, threshold: float
) -> list[Detection]:
    """A detector's outputs (boxes in input pixels) as detections in image pixels, the best
    first, those under `threshold` left out, with a segmenter's masks. Malformed outputs
    raise ValueError."""
    found = read_boxes(outputs, box, threshold)
    masks: Array | None = None
    if "masks" in outputs:
        masks = batchless(np.asarray(outputs["masks"], np.float32), 3)
        rows = len(batchless(np.asarray(outputs["scores"], np.float32), 1).reshape(-1))
        if masks.ndim != 3 or len(masks) != rows:
            raise ValueError(f"masks of shape {masks.shape} for {rows} detections")
    return [
        Detection(
            f.label,
            f.score,
            f.box,
            None if masks is None else mask_to_image(box, masks[f.row], MASK_THRESHOLD),
        )
        for f in found
    ]


def decoder_feeds(
    declared: set[str],
    embedding: Floats,
    prompt: Prompt,
    height: int,
    width: int,
    long_side: int,
) -> dict[str, Floats]:
    """The decoder's inputs for a prompt on an image of `height` x `width`: points scaled as
    the encoder's input was; without a box, SAM's padding point (0, 0) labelled -1."""
    new_h, new_w = sam_resized_size(height, width, long_side)
    points = [(x * new_w / width, y * new_h / height) for x, y in prompt.points]
    labels = [float(v) for v in prompt.labels]
    if not prompt.has_box:
        points.append((0.0, 0.0))
        labels.append(-1.0)
    feeds: dict[str, Floats] = {
        "image_embeddings": embedding,
        "point_coords": np.array([points], np.float32),
        "point_labels": np.array([labels], np.float32),
    }
    optional = {
        "mask_input": np.zeros((1, 1, 256, 256), np.float32),
        "has_mask_input": np.zeros(1, np.float32),
        "orig_im_size": np.array([height, width], np.float32),
    }
    return feeds | {name: value for name, value in optional.items() if name in declared}


def read_decoded(
    outputs: Mapping[str, Array], height: int, width: int, long_side: int
) -> tuple[BoolMask, float]:
    """The decoder's best mask (by its predicted IoU) in image pixels, and that prediction."""
    scores = np.asarray(outputs["iou_predictions"], np.float32).reshape(-1)
    low_res = "low_res_masks" in outputs
    masks = np.asarray(outputs["low_res_masks" if low_res else "masks"], np.float32)
    masks = masks.reshape(-1, *masks.shape[-2:])
    if len(masks) != len(scores) or len(scores) == 0:
        raise ValueError(f"{len(masks)} masks for {len(scores)} IoU predictions")
    best = int(np.argmax(scores))
    mask = sam_mask_to_image(masks[best], height, width, long_side, low_res)
    score = float(scores[best]) if np.isfinite(scores[best]) else 0.0
    return mask, min(max(score, 0.0), 1.0)


class ModelRunner:
    """Sessions by file, and the runs of each task."""

    def __init__(
        self,
        files: ModelFiles,
        *,
        sessions_kept: int = 8,
        concurrency: int = 2,
        threads: int | None = None,
    ) -> None:
        self.files = files
        self.sessions_kept = sessions_kept
        self.providers = execution_providers()
        # Each run uses its share of the cores: runs at once x threads each ~ cores.
        self.threads = threads or max(1, (os.cpu_count() or 1) // concurrency)
        self._sessions: OrderedDict[str, Any] = OrderedDict()
        self._loading: dict[str, asyncio.Lock] = {}
        self._slots = asyncio.Semaphore(concurrency)

    async def session(self, sha256: str) -> Any:
        session = self._sessions.get(sha256)
        if session is not None:
            self._sessions.move_to_end(sha256)
            return session
        lock = self._loading.setdefault(sha256, asyncio.Lock())
        async with lock:  # one load per file, however many runs wait for it
            session = self._sessions.get(sha256)
            if session is None:
                data = await self.files.get_model(sha256)
                session = await asyncio.to_thread(open_session, data, self.threads, self.providers)
                self._sessions[sha256] = session
                while len(self._sessions) > self.sessions_kept:
                    self._sessions.popitem(last=False)
        self._loading.pop(sha256, None)
        return session

    async def run(self, session: Any, feeds: Mapping[str, Array]) -> dict[str, Array]:
        """Every output of one run, by name, computed in a worker thread."""
        names = [o.name for o in session.get_outputs()]
        async with self._slots:
            values = await asyncio.to_thread(session.run, names, dict(feeds))
        return dict(zip(names, values, strict=True))

    async def detect(
        self, model: ModelRead, image: Rgb, threshold: float | None = None
    ) -> list[Detection]:
        """A detect or segment model's findings on an RGB image, the best first."""
        prepared = letterbox(image, model.manifest.input_size)
        return await self.detect_prepared(model, prepared, threshold)

    async def detect_encoded(
        self, model: ModelRead, data: bytes, size: tuple[int, int], threshold: float | None = None
    ) -> list[Detection]:
        """detect() on an encoded image of `size` (width, height), decoded in a worker thread
        no larger than the model needs (imaging.detector_input)."""
        prepared = await asyncio.to_thread(detector_input, data, size, model.manifest.input_size)
        return await self.detect_prepared(model, prepared, threshold)

    async def detect_prepared(
        self, model: ModelRead, prepared: tuple[Floats, Letterbox], threshold: float | None = None
    ) -> list[Detection]:
        session = await self.session(model.files["model"])
        tensor, box = prepared
        outputs = await self.run(session, {"images": tensor})
        if model.task == "detect":
            outputs.pop("masks", None)
        cutoff = model.manifest.score_threshold if threshold is None else threshold
        return read_detections(outputs, box, cutoff)

    async def embed(self, model: ModelRead, image: Rgb) -> Floats:
        """A promptable segmenter's image embedding (its encoder's first output)."""
        session = await self.session(model.files["encoder"])
        declared = session.get_inputs()[0]
        tensor = sam_encoder_input(image, max(model.manifest.input_size), len(declared.shape))
        outputs = await self.run(session, {declared.name: tensor})
        first = session.get_outputs()[0].name
        return np.ascontiguousarray(outputs[first], dtype=np.float32)

    async def decode(
        self, model: ModelRead, embedding: Floats, height: int, width: int, prompt: Prompt
    ) -> tuple[BoolMask, float]:
        """The mask a prompt picks out on an image of `height` x `width` whose embedding is
        `embedding`, and the decoder's confidence in it."""
        session = await self.session(model.files["decoder"])
        declared = {i.name for i in session.get_inputs()}
        long_side = max(model.manifest.input_size)
        feeds = decoder_feeds(declared, embedding, prompt, height, width, long_side)
        outputs = await self.run(session, feeds)
        return read_decoded(outputs, height, width, long_side)
