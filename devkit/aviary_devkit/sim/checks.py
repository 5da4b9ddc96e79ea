"""Checking a delivered COCO file against the scenes the images were made from."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from aviary_devkit.sim.flow import CLASS_IDS, FlowResult


def coco_problems(result: FlowResult, coco_path: Path | None = None) -> list[str]:
    """Every way the delivery differs from the truth; empty when it is exactly right.

    Loads the COCO file with pycocotools (the reference reader) when `coco_path` is given.
    """
    coco: dict[str, Any] = result.coco
    problems: list[str] = []
    if coco_path is not None:
        from pycocotools.coco import COCO  # the reference loader; heavy, so imported late

        api = COCO(str(coco_path))
        if len(api.getImgIds()) != len(coco["images"]):
            problems.append("pycocotools sees a different number of images")
    ids_by_item = Counter(img["aviary_item_id"] for img in coco["images"])
    for item_id, count in ids_by_item.items():
        if count != 1:
            problems.append(f"item {item_id} delivered {count} times")
    missing = set(result.truth) - set(ids_by_item)
    if missing:
        problems.append(f"{len(missing)} items not delivered")
    image_by_id = {img["id"]: img for img in coco["images"]}
    boxes: dict[str, list[tuple[int, tuple[float, ...]]]] = {}
    for ann in coco["annotations"]:
        item_id = image_by_id[ann["image_id"]]["aviary_item_id"]
        boxes.setdefault(item_id, []).append((ann["category_id"], tuple(ann["bbox"])))
    for item_id, scene in result.truth.items():
        expected = sorted((CLASS_IDS[b.label], (b.x, b.y, b.w, b.h)) for b in scene.boxes)
        if sorted(boxes.get(item_id, [])) != expected:
            problems.append(f"boxes of item {item_id} differ from the truth")
        image = next((i for i in coco["images"] if i["aviary_item_id"] == item_id), None)
        if image is not None and (image["width"], image["height"]) != (scene.width, scene.height):
            problems.append(f"size of item {item_id} is wrong")
    return problems
