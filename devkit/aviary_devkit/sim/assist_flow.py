"""The image flow with help from assist (`aviary-sim --assist`): outlines, not boxes.

The project asks for polygons. Each simulated annotator outlines every object as a person with
the assist mode would (`assist_person.py`): the object's box to `POST /v1/assist/segment`,
corrective clicks while the outline is off, the polygon by hand when the clicks do not get it
right. Outlines from assist are submitted with their source (`grabcut`, or a model); drawn ones
without. The reviewer and the final check compare every delivered outline with the object's
true mask.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from pycocotools import mask as coco_mask

from aviary.client.config import Endpoints
from aviary_devkit.sim.assist_person import Box, Click, Mask, Outlined, iou, outline_with_help
from aviary_devkit.sim.flow import (
    CLASS_IDS,
    Flow,
    FlowConfig,
    FlowResult,
    Progress,
    wrong_on_purpose,
)
from aviary_devkit.sim.scenes import Scene, object_masks

# A delivered outline is right when it covers the true mask this well.
OUTLINE_IOU = 0.8


@dataclass
class HelpStats:
    outlined: list[Outlined] = field(default_factory=list)


def polygon_mask(points: list[list[float]], width: int, height: int) -> Mask:
    mask = np.zeros((height, width), dtype=np.uint8)
    cv2.fillPoly(mask, [np.round(np.asarray(points)).astype(np.int32)], 1)
    return mask.astype(bool)


def drawn_by_hand(truth: Mask) -> list[list[float]]:
    """The polygon a careful person draws: the object's outer outline, pixel-exact."""
    contours, _ = cv2.findContours(
        truth.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
    )
    largest = max(contours, key=cv2.contourArea)
    return [[float(x), float(y)] for x, y in largest.reshape(-1, 2)]


def outlines_match(shapes: list[dict[str, Any]], scene: Scene, masks: list[Mask]) -> bool:
    """One outline of the right class per object, each covering its object's mask."""
    if len(shapes) != len(masks):
        return False
    left = list(shapes)
    for box, truth in zip(scene.boxes, masks, strict=True):
        found = next(
            (
                s
                for s in left
                if s["class_id"] == CLASS_IDS[box.label]
                and len(s.get("points", [])) >= 3
                and iou(polygon_mask(s["points"], scene.width, scene.height), truth) >= OUTLINE_IOU
            ),
            None,
        )
        if found is None:
            return False
        left.remove(found)
    return True


class AssistFlow(Flow):
    """`Flow` with outlines made through assist."""

    def __init__(
        self, endpoints: Endpoints, operator_key: str, config: FlowConfig, progress: Progress
    ) -> None:
        super().__init__(endpoints, operator_key, config, progress)
        self.help_stats = HelpStats()

    def project_body(self) -> dict[str, Any]:
        body = super().project_body()
        body["ontology"] = {
            "classes": [{"id": i, "name": n, "kind": "polygon"} for n, i in CLASS_IDS.items()]
        }
        body["instructions"] = "Outline every car, truck, pedestrian and light (A: assist)."
        body["delivery_formats"] = ["coco", "jsonl"]
        return body

    def masks(self, scene: Scene) -> list[Mask]:
        return [np.asarray(m, dtype=np.uint8) > 0 for m in object_masks(scene)]

    async def prepare(self, task: dict[str, Any], token: str) -> tuple[dict[str, Any], bool]:
        scene = self.truth[task["item_id"]]
        objects = list(zip(scene.boxes, self.masks(scene), strict=True))
        wrong = task["rework"] == 0 and wrong_on_purpose(scene, self.config)
        if wrong:  # a missed object
            objects.pop(random.Random(scene.seed).randrange(len(objects)))
        shapes = []
        for box, truth in objects:
            last: dict[str, Any] = {}
            outlined = await outline_with_help(truth, self._segmenter(task["item_id"], token, last))
            self.help_stats.outlined.append(outlined)
            shape: dict[str, Any] = {"kind": "polygon", "class_id": CLASS_IDS[box.label]}
            if outlined.by_hand:
                shape["points"] = drawn_by_hand(truth)
            else:
                shape["points"] = last["polygon"]
                shape["source"] = {"by": "model", "model": last["model"]}
            shapes.append(shape)
        return {"annotation": {"shapes": shapes}}, wrong

    def _segmenter(self, item_id: str, token: str, last: dict[str, Any]) -> Any:
        async def segment(box: Box, clicks: list[Click]) -> Mask:
            body = {
                "item_id": item_id,
                "box": list(box),
                "clicks": [{"x": x, "y": y, "positive": inside} for x, y, inside in clicks],
            }
            result = await self._ok("POST", f"{self.ep.assist}/v1/assist/segment", token, json=body)
            last.update(result)
            height, width = result["rle"]["size"]
            return polygon_mask(result["polygon"], width, height)

        return segment

    def judge(self, review: dict[str, Any]) -> dict[str, str] | None:
        scene = self.truth[review["item_id"]]
        if outlines_match(review["annotation"]["shapes"], scene, self.masks(scene)):
            return None
        return {"reason": "missing object", "comment": "Please outline every object."}


def outline_problems(result: FlowResult) -> list[str]:
    """Every way the delivered COCO outlines differ from the truth; empty when right."""
    coco = result.coco
    images = {img["id"]: img for img in coco["images"]}
    delivered: dict[str, list[dict[str, Any]]] = {}
    for ann in coco["annotations"]:
        image = images[ann["image_id"]]
        rles = coco_mask.frPyObjects(ann["segmentation"], image["height"], image["width"])
        mask = np.asarray(coco_mask.decode(coco_mask.merge(rles)), dtype=bool)
        points = drawn_by_hand(mask) if mask.any() else []
        delivered.setdefault(image["aviary_item_id"], []).append(
            {"class_id": ann["category_id"], "points": points}
        )
    problems = []
    for item_id, scene in result.truth.items():
        masks = [np.asarray(m, dtype=np.uint8) > 0 for m in object_masks(scene)]
        if not outlines_match(delivered.get(item_id, []), scene, masks):
            problems.append(f"outlines of item {item_id} differ from the truth")
    return problems


async def run_assist_flow(
    endpoints: Endpoints, operator_key: str, config: FlowConfig, progress: Progress = print
) -> tuple[FlowResult, HelpStats]:
    flow = AssistFlow(endpoints, operator_key, config, progress)
    try:
        return await flow.run(), flow.help_stats
    finally:
        await flow.close()
