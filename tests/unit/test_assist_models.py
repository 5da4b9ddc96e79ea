"""Operator models (services/assist/models/) and pre-label answers (services/assist/prelabel/),
without the stack: tiny ONNX models made here (aviary_devkit/tiny_onnx.py) checked against their
task's contract, run on images whose answers are known, turned into proposals; a client
endpoint's answers read; the circuit breaker's states."""

from __future__ import annotations

import json
from typing import Any

import cv2
import numpy as np
import pytest

from aviary.contracts.assist import Click, ModelManifest, ModelRead, Prelabels
from aviary.contracts.shapes import (
    Annotation,
    BoxShape,
    MaskShape,
    Ontology,
    OntologyClass,
    PolygonShape,
    ShapeSource,
)
from aviary_devkit.tiny_onnx import bright_rectangle, decoder, detector, encoder, identity, manifest
from services.assist.models.checks import check_files_sync
from services.assist.models.embeddings import EmbeddingCache, picture_key
from services.assist.models.files import ModelFiles, sha256_of
from services.assist.models.imaging import decode_rgb, detector_input
from services.assist.models.model_segmenter import ModelSegmenter
from services.assist.models.proposals import proposals
from services.assist.models.runner import ModelRunner
from services.assist.models.tasks import Signature, Tensor, signature_problems
from services.assist.prelabel.answers import BadAnswer, read_answer
from services.assist.prelabel.breaker import CircuitBreaker
from services.assist.prelabel.prelabeler import merged
from services.assist.segmenter import Picture, Prompt
from shared.domain import masks
from shared.errors import AppError
from shared.events import ImageRef, ItemIngested
from shared.settings import Settings
from shared.store.storage import ObjectStorage
from shared.vision.detector_model import box_to_image, letterbox

ONTOLOGY = Ontology(
    classes=(
        OntologyClass(id=1, name="car", kind="bbox"),
        OntologyClass(id=2, name="sign", kind="bbox"),
        OntologyClass(id=3, name="road", kind="polygon"),
        OntologyClass(id=4, name="blob", kind="mask"),
    )
)


class MemoryFiles(ModelFiles):
    """Model files and embeddings in a dict: the runner's own code, without object storage."""

    def __init__(self) -> None:
        super().__init__(ObjectStorage(Settings()), "unused")
        self.objects: dict[str, bytes] = {}

    async def put_model(self, data: bytes) -> str:
        self.objects[sha256_of(data)] = data
        return sha256_of(data)

    async def get_model(self, sha256: str) -> bytes:
        return self.objects[sha256]

    async def put_embedding(self, encoder_sha256: str, image_key: str, data: bytes) -> None:
        self.objects[f"{encoder_sha256}/{image_key}"] = data

    async def get_embedding(self, encoder_sha256: str, image_key: str) -> bytes | None:
        return self.objects.get(f"{encoder_sha256}/{image_key}")


class CountingRunner(ModelRunner):
    def __init__(self, files: ModelFiles) -> None:
        super().__init__(files, concurrency=1)
        self.embedded = 0

    async def embed(self, model: ModelRead, image: Any) -> Any:
        self.embedded += 1
        return await super().embed(model, image)


async def installed(files: MemoryFiles, body: dict[str, Any], **data: bytes) -> ModelRead:
    spec = ModelManifest.model_validate(body)
    check_files_sync(spec, data)
    shas = {role: await files.put_model(blob) for role, blob in data.items()}
    return ModelRead(
        name=spec.name,
        version=1,
        task=spec.task,
        manifest=spec,
        files=shas,
        size_bytes=sum(len(b) for b in data.values()),
        uploaded_at="2026-01-01T00:00:00Z",
        uploaded_by="operator",
    )


def refused(body: dict[str, Any], **data: bytes) -> AppError:
    with pytest.raises(AppError) as info:
        check_files_sync(ModelManifest.model_validate(body), data)
    assert info.value.status_code == 422
    return info.value


def iou_of(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


# ----- the task contracts -------------------------------------------------------------------


def test_models_that_fit_their_task_are_accepted() -> None:
    check_files_sync(ModelManifest.model_validate(manifest("det")), {"model": detector()})
    segment = manifest("seg", "segment")
    check_files_sync(ModelManifest.model_validate(segment), {"model": detector(masks=True)})
    pair = {"encoder": encoder(), "decoder": decoder()}
    check_files_sync(ModelManifest.model_validate(manifest("sam", "promptable-segment")), pair)
    # The decoder's mask_input and has_mask_input are optional.
    lean = {"encoder": encoder(), "decoder": decoder(with_optional=False)}
    check_files_sync(ModelManifest.model_validate(manifest("sam", "promptable-segment")), lean)


def test_models_that_do_not_fit_are_refused_with_a_code_saying_why() -> None:
    assert refused(manifest("det"), model=b"not an onnx model").code == "not_onnx"
    wrong = refused(manifest("det"), model=identity())
    assert wrong.code == "wrong_inputs" and "no input named 'images'" in wrong.message
    assert "unexpected input 'x'" in wrong.message
    # Named right, but without the outputs a detector gives.
    outputs = refused(manifest("det"), model=identity("images"))
    assert outputs.code == "wrong_outputs" and "no output named 'boxes'" in outputs.message
    # A detector has no masks: it is not a segmenter.
    no_masks = refused(manifest("seg", "segment"), model=detector())
    assert no_masks.code == "wrong_outputs" and "'masks'" in no_masks.message
    # The model fixes its input at 64 x 64: a manifest saying 32 x 48 does not fit.
    size = refused(manifest("det", input_size=[32, 48]), model=detector())
    assert size.code == "wrong_inputs" and "not 48" in size.message
    # A promptable segmenter is two files; a detector is one.
    files = refused(manifest("sam", "promptable-segment"), model=detector())
    assert files.code == "wrong_files"
    assert refused(manifest("det"), encoder=encoder(), decoder=decoder()).code == "wrong_files"
    swapped = refused(manifest("sam", "promptable-segment"), encoder=decoder(), decoder=encoder())
    assert swapped.code == "wrong_inputs"


def test_manifests_are_checked_against_their_task() -> None:
    no_labels = refused(manifest("det", labels=[], class_map={}), model=detector())
    assert no_labels.code == "invalid_manifest"
    unknown = refused(manifest("det", class_map={"ghost": "car"}), model=detector())
    assert unknown.code == "invalid_manifest" and "ghost" in unknown.message
    tiny = refused(manifest("det", input_size=[8, 8]), model=detector())
    assert tiny.code == "invalid_manifest"


def test_declared_shapes_are_checked_where_the_model_fixes_them() -> None:
    spec = ModelManifest.model_validate(manifest("det"))
    good = Signature(
        inputs=(Tensor("images", "tensor(float)", (1, 3, "h", "w")),),
        outputs=(
            Tensor("boxes", "tensor(float)", (1, "n", 4)),  # a batch dimension of 1 is fine
            Tensor("scores", "tensor(float)", ("n",)),
            Tensor("labels", "tensor(int64)", None),  # rank unknown: accepted
            Tensor("extra", "tensor(float)", ("n",)),  # outputs nobody reads are fine
        ),
    )
    assert signature_problems(spec, "model", good) == ([], [])
    bad = Signature(
        inputs=(Tensor("images", "tensor(uint8)", (1, 4, 64, 64)),),
        outputs=(
            Tensor("boxes", "tensor(float)", ("n", 5)),
            Tensor("scores", "tensor(float)", ("a", "b", "c")),
            Tensor("labels", "tensor(string)", ("n",)),
        ),
    )
    inputs, outputs = signature_problems(spec, "model", bad)
    assert any("tensor(uint8)" in p for p in inputs) and any("size 4" in p for p in inputs)
    assert len(outputs) == 3


# ----- running them -------------------------------------------------------------------------


def test_letterbox_maps_boxes_back_to_the_image() -> None:
    image = bright_rectangle(200, 100, (40, 20, 120, 60))
    tensor, box = letterbox(image, (64, 64))
    assert tensor.shape == (1, 3, 64, 64) and tensor.dtype == np.float32
    assert box.scale == pytest.approx(0.32) and box.pad_x == 0 and box.pad_y == 16
    # The grey borders are not bright; the image's white is 1.0.
    assert tensor[0, :, 0, 0] == pytest.approx([114 / 255] * 3)
    assert tensor.max() == 1.0
    left, top, w, h = box_to_image(box, 40 * 0.32, 16 + 20 * 0.32, 120 * 0.32, 16 + 60 * 0.32)
    assert (left, top, w, h) == pytest.approx((40, 20, 80, 40))
    # Outside the image: clipped to it.
    assert box_to_image(box, -10, 0, 70, 70) == pytest.approx((0, 0, 200, 100))


def test_an_encoded_image_is_decoded_no_larger_than_the_model_needs() -> None:
    image = bright_rectangle(1280, 720, (400, 200, 720, 520))
    ok, jpeg = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    reduced, box = detector_input(jpeg.tobytes(), (1280, 720), (320, 320))
    full, full_box = letterbox(decode_rgb(jpeg.tobytes()), (320, 320))
    # Decoded at a quarter (320x180, just what the letterbox keeps), mapped to the whole image.
    assert box == full_box and (box.width, box.height) == (1280, 720)
    assert np.abs(reduced - full).mean() < 0.01
    assert box_to_image(box, 100, 70 + 50, 180, 70 + 130) == pytest.approx((400, 200, 320, 320))
    # A size that does not match the file (not what ingest measured): decoded whole.
    _, odd = detector_input(jpeg.tobytes(), (2000, 900), (320, 320))
    assert (odd.width, odd.height) == (1280, 720)


async def test_a_detector_finds_the_bright_part_and_its_proposals_fit_the_ontology() -> None:
    files = MemoryFiles()
    model = await installed(files, manifest("det"), model=detector())
    runner = ModelRunner(files)
    image = bright_rectangle(200, 100, (40, 20, 120, 60))
    found = await runner.detect(model, image)
    # The constant box scores 0.2, under the manifest's threshold of 0.3.
    assert len(found) == 1
    (car,) = found
    assert car.label == 0 and car.score == pytest.approx(0.9)
    assert car.box == pytest.approx((40, 20, 80, 40), abs=3.2)  # a pixel of the 64 px input
    everything = await runner.detect(model, image, threshold=0.0)
    assert [d.label for d in everything] == [0, 1]

    shapes = proposals(found, model.manifest, ONTOLOGY, model.ref, 0.3, 200, 100)
    (box,) = shapes
    assert isinstance(box, BoxShape) and box.class_id == 1
    assert box.source == ShapeSource(by="model", model="det@1", confidence=0.9)
    # The project's min_confidence is stricter than the model's threshold.
    assert proposals(found, model.manifest, ONTOLOGY, model.ref, 0.95, 200, 100) == []
    # Labels the class map leaves out, or classes the project lacks, are not proposed.
    unmapped = model.manifest.model_copy(update={"class_map": {"corner": "sign"}})
    assert proposals(found, unmapped, ONTOLOGY, model.ref, 0.0, 200, 100) == []
    roads = model.manifest.model_copy(update={"class_map": {"thing": "road"}})
    (outline,) = proposals(found, roads, ONTOLOGY, model.ref, 0.0, 200, 100)
    assert isinstance(outline, PolygonShape) and len(outline.points) == 4


async def test_a_segmenter_proposes_outlines_and_masks() -> None:
    files = MemoryFiles()
    model = await installed(files, manifest("seg", "segment"), model=detector(masks=True))
    image = bright_rectangle(160, 120, (30, 40, 110, 100))
    truth = np.zeros((120, 160), np.bool_)
    truth[40:100, 30:110] = True
    (found,) = await ModelRunner(files).detect(model, image)
    assert found.mask is not None and found.mask.shape == (120, 160)
    assert iou_of(found.mask, truth) > 0.95

    as_polygon = model.manifest.model_copy(update={"class_map": {"thing": "road"}})
    (outline,) = proposals([found], as_polygon, ONTOLOGY, model.ref, 0.0, 160, 120)
    assert isinstance(outline, PolygonShape)
    filled = masks.polygon_to_mask(outline.points, 120, 160)
    assert iou_of(filled, truth) > 0.9
    as_mask = model.manifest.model_copy(update={"class_map": {"thing": "blob"}})
    (blob,) = proposals([found], as_mask, ONTOLOGY, model.ref, 0.0, 160, 120)
    assert isinstance(blob, MaskShape) and blob.rle.size == (120, 160)
    assert iou_of(masks.decode(blob.rle), truth) > 0.95


async def test_a_promptable_segmenter_embeds_once_and_decodes_each_prompt() -> None:
    files = MemoryFiles()
    pair = {"encoder": encoder(), "decoder": decoder()}
    model = await installed(files, manifest("sam", "promptable-segment"), **pair)
    runner = CountingRunner(files)
    cache = EmbeddingCache(runner, files)
    segmenter = ModelSegmenter(model, runner, cache)
    assert segmenter.name == "sam@1"
    pixels = np.zeros((90, 240, 3), np.uint8)  # BGR, as the segment route decodes
    picture = Picture("itm_1", 0, pixels)
    cut = await segmenter.segment(picture, Prompt(box=(60, 15, 90, 45)))
    assert (cut.left, cut.top) == (0, 0) and cut.score == pytest.approx(0.87)
    truth = np.zeros((90, 240), np.bool_)
    truth[15:60, 60:150] = True
    # The corners travel through the 64 px input space: within a few pixels.
    assert iou_of(cut.mask, truth) > 0.9
    clicked = Prompt(box=(10, 10, 30, 30), clicks=(Click(x=20, y=20),))
    second = await segmenter.segment(picture, clicked)
    truth2 = np.zeros((90, 240), np.bool_)
    truth2[10:40, 10:40] = True
    assert iou_of(second.mask, truth2) > 0.8
    assert runner.embedded == 1  # the second prompt ran the decoder only
    # Stored, so another process (a fresh cache) finds it without the encoder.
    encoder_sha, stored = EmbeddingCache.key_of(model, picture_key("itm_1", 0))
    assert f"{encoder_sha}/{stored}" in files.objects
    fresh = ModelSegmenter(model, runner, EmbeddingCache(runner, files))
    await fresh.segment(picture, clicked)
    assert runner.embedded == 1


async def test_a_segmentation_model_segments_a_box_by_the_object_that_fits_it() -> None:
    files = MemoryFiles()
    model = await installed(files, manifest("seg", "segment"), model=detector(masks=True))
    segmenter = ModelSegmenter(model, ModelRunner(files), EmbeddingCache(ModelRunner(files), files))
    rgb = bright_rectangle(300, 200, (100, 60, 180, 140))
    picture = Picture("itm_2", 0, np.ascontiguousarray(rgb[..., ::-1]))
    cut = await segmenter.segment(picture, Prompt(box=(95, 55, 90, 90)))
    assert cut.score == pytest.approx(0.9)
    whole = np.zeros((200, 300), np.bool_)
    whole[cut.top : cut.top + cut.mask.shape[0], cut.left : cut.left + cut.mask.shape[1]] = cut.mask
    truth = np.zeros((200, 300), np.bool_)
    truth[60:140, 100:180] = True
    assert iou_of(whole, truth) > 0.9
    # A negative click on the object rules it out: the box itself, with no confidence.
    refusing = Prompt(box=(95, 55, 90, 90), clicks=(Click(x=140, y=100, positive=False),))
    assert (await segmenter.segment(picture, refusing)).score == 0.0


# ----- a client endpoint's answers ----------------------------------------------------------


def answer(shapes: list[dict[str, Any]], **extra: Any) -> bytes:
    return json.dumps({"shapes": shapes, **extra}).encode()


def test_an_endpoints_answer_becomes_proposals_naming_it() -> None:
    data = answer(
        [
            {"class_id": 1, "bbox": [10, 10, 20, 20], "confidence": 0.9},
            {"class_id": 3, "kind": "polygon", "points": [[0, 0], [50, 0], [50, 40]]},
            {"class_id": 2, "bbox": [0, 0, 5, 5], "confidence": 0.1, "source": {"by": "human"}},
        ],
        confidence=0.6,
    )
    shapes = read_answer(data, ONTOLOGY, 100, 80, "endpoint:acme", 0.3)
    assert [s.class_id for s in shapes] == [1, 3]  # 0.1 is under min_confidence
    assert [s.source for s in shapes] == [
        ShapeSource(by="model", model="endpoint:acme", confidence=0.9),
        ShapeSource(by="model", model="endpoint:acme", confidence=0.6),
    ]


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"<html>", "not JSON"),
        (b"[]", '"shapes" list'),
        (answer([{"class_id": 9, "bbox": [0, 0, 5, 5]}]), "unknown_class"),
        (answer([{"class_id": 1, "bbox": [90, 0, 50, 5]}]), "outside_image"),
        (answer([{"class_id": 3, "bbox": [0, 0, 5, 5]}]), "wrong_kind"),
        (answer([{"class_id": 1, "bbox": "wide"}]), "malformed"),
        (answer([{"class_id": 1, "bbox": [0, 0, 5, 5], "confidence": 2}]), "from 0 to 1"),
        (answer([], confidence="high"), "number"),
    ],
)
def test_a_bad_answer_is_refused_whole(data: bytes, why: str) -> None:
    with pytest.raises(BadAnswer, match=why):
        read_answer(data, ONTOLOGY, 100, 80, "endpoint:acme", 0.0)


def test_proposals_follow_the_clients_own_pre_annotation() -> None:
    image = ImageRef(
        bucket="b", object_key="k", width=100, height=80, format="png", sha256="s", file_name="f"
    )
    own = BoxShape(class_id=2, bbox=(1, 1, 5, 5))
    event = ItemIngested(
        item_id="itm_3",
        project_id="prj",
        batch_id="bat",
        org_id="org",
        image=image,
        pre_annotation=Annotation(shapes=(own,)),
        prelabel=True,
    )
    source = ShapeSource(by="model", model="det@2", confidence=0.4)
    proposed = (
        BoxShape(class_id=1, bbox=(10, 10, 5, 5), source=source),
        BoxShape(
            class_id=1, bbox=(20, 10, 5, 5), source=source.model_copy(update={"confidence": 0.8})
        ),
    )
    found = Prelabels(annotation=Annotation(shapes=proposed), model="det@2")
    out = merged(event, found)
    assert out.pre_annotation is not None
    assert out.pre_annotation.shapes == (own, *proposed)
    assert out.confidence == 0.4 and out.model == "det@2" and out.error is None
    assert out.item_id == "itm_3" and out.prelabel and out.image == image
    failed = merged(event, Prelabels(model="det@2", error="model_failed: boom"))
    assert failed.pre_annotation == event.pre_annotation and failed.error == "model_failed: boom"
    assert failed.confidence is None


# ----- the circuit breaker ------------------------------------------------------------------


def state_of(breaker: CircuitBreaker) -> str:
    return breaker.state


def test_the_breaker_opens_after_failures_in_a_row_and_tries_again_after_its_cool_down() -> None:
    now = [0.0]
    breaker = CircuitBreaker(failures=3, cooldown_s=10, clock=lambda: now[0])
    for _ in range(2):
        assert breaker.allow()
        breaker.failed_once()
    breaker.succeeded()  # a success in between: the run starts again
    for _ in range(3):
        assert breaker.allow()
        breaker.failed_once()
    assert breaker.state == "open" and not breaker.allow()
    now[0] = 9.9
    assert not breaker.allow()
    now[0] = 10.0
    assert breaker.allow() and state_of(breaker) == "half_open"  # the one trial
    assert not breaker.allow()  # the others wait for it
    breaker.failed_once()
    assert breaker.state == "open" and not breaker.allow()
    now[0] = 20.0
    assert breaker.allow()
    breaker.succeeded()
    assert state_of(breaker) == "closed" and breaker.allow()
    # A trial that never reports does not hold the breaker half-open for ever.
    for _ in range(3):
        breaker.failed_once()
    now[0] = 30.0
    assert breaker.allow() and not breaker.allow()
    now[0] = 40.0
    assert breaker.allow()
