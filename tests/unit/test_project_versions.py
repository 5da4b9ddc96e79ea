"""What changed between two versions of a project, as the version list says it."""

from __future__ import annotations

from typing import Any

from services.ingest.project_versions import version_changes

BEFORE: dict[str, Any] = {
    "name": "Streets",
    "ontology": {
        "classes": [
            {"id": 1, "name": "car", "kind": "bbox", "attributes": []},
            {"id": 2, "name": "pedestrian", "kind": "keypoints", "attributes": []},
            {"id": 3, "name": "light", "kind": "bbox", "attributes": [], "colour": None},
        ]
    },
    "vendors": [{"vendor_id": "org_a", "share": 1.0, "piece_rate": None}],
    "vendor_names": {"org_a": "Lark"},
    "review": {"mode": "all", "rate": 1.0},
    "piece_rate": 0.05,
    "instructions": "Box every car.",
    "delivery_formats": ["coco"],
    "video": {"clip_frames": 10},
}


def test_nothing_changed_says_nothing() -> None:
    assert version_changes(BEFORE, dict(BEFORE)) == []


def test_every_kind_of_change_is_named() -> None:
    after = {
        **BEFORE,
        "name": "City streets",
        "ontology": {
            "classes": [
                {"id": 1, "name": "vehicle", "kind": "bbox", "attributes": []},
                {"id": 3, "name": "light", "kind": "bbox", "attributes": [], "colour": "#ff0000"},
                {"id": 4, "name": "cyclist", "kind": "polygon", "attributes": []},
            ]
        },
        "vendors": [
            {"vendor_id": "org_a", "share": 0.5, "piece_rate": 0.08},
            {"vendor_id": "org_b", "share": 0.5, "piece_rate": None},
        ],
        "vendor_names": {"org_a": "Lark", "org_b": "Wren"},
        "review": {"mode": "sample", "rate": 0.25},
        "piece_rate": 0.1,
        "instructions": "Box every vehicle.",
        "delivery_formats": ["coco", "yolo"],
        "video": {"clip_frames": 20},
    }
    assert version_changes(BEFORE, after) == [
        "renamed 'Streets' → 'City streets'",
        "class 1 renamed 'car' → 'vehicle'",
        "class 2 'pedestrian' removed",
        "class 3 colour none → #ff0000",
        "class 4 'cyclist' (polygon) added",
        "vendor Lark: 100% → 50%, piece rate 0.08",
        "vendor Wren added (50%)",
        "review mode all → sample",
        "review rate 1 → 0.25",
        "instructions changed",
        "delivery formats coco → coco, yolo",
        "piece rate 0.05 → 0.1",
        "video changed",
    ]


def test_a_removed_vendor_and_a_changed_skeleton() -> None:
    classes = [dict(c) for c in BEFORE["ontology"]["classes"]]
    classes[1]["skeleton"] = {"keypoints": ["head"], "edges": []}
    after = {**BEFORE, "ontology": {"classes": classes}, "vendors": []}
    assert version_changes(BEFORE, after) == [
        "class 2 'pedestrian': attributes or skeleton changed",
        "vendor Lark removed",
    ]
