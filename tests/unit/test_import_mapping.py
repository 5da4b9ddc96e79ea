"""Foreign annotations onto a project's ontology (client/aviary/interop/mapping.py): names to
classes, kinds that fit, all or nothing, and the report."""

from __future__ import annotations

from aviary.contracts.shapes import (
    AttributeSpec,
    BoxShape,
    KeypointsShape,
    Ontology,
    OntologyClass,
    PolygonShape,
    Rle,
    Skeleton,
)
from aviary.interop.foreign import ForeignImage, ForeignSet, ForeignShape
from aviary.interop.mapping import map_onto

ONTOLOGY = Ontology(
    classes=(
        OntologyClass(
            id=1,
            name="car",
            attributes=(
                AttributeSpec(name="parked", type="boolean"),
                AttributeSpec(name="colour", type="enum", options=("red", "blue")),
            ),
        ),
        OntologyClass(id=2, name="Pedestrian", kind="polygon"),
        OntologyClass(id=3, name="lane", kind="polyline"),
        OntologyClass(
            id=4, name="person", kind="keypoints", skeleton=Skeleton(keypoints=("head", "foot"))
        ),
        OntologyClass(id=5, name="road", kind="mask"),
        OntologyClass(id=6, name="night", kind="classification"),
    )
)
BOX = ForeignShape("car", "bbox", bbox=(10, 20, 30, 40))
SQUARE = ((0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0))


def one(*shapes: ForeignShape, width: int | None = 100, height: int | None = 100) -> ForeignSet:
    return ForeignSet("coco", [ForeignImage("a.jpg", width, height, shapes)])


def test_every_kind_maps_onto_the_class_of_its_name() -> None:
    foreign = one(
        BOX,
        ForeignShape("pedestrian", "polygon", points=SQUARE),  # the class differs in case only
        ForeignShape("lane", "polyline", points=((0, 50), (100, 50))),
        ForeignShape("person", "keypoints", keypoints=((5, 5, 2), (6, 90, 1))),
        ForeignShape("road", "mask", rle=Rle(size=(100, 100), counts=(0, 10, 9990))),
        ForeignShape("night", "classification"),
    )
    mapped = map_onto(foreign, ONTOLOGY)
    assert mapped.report.ok, mapped.report.refused
    shapes = mapped.annotations["a.jpg"].shapes
    assert [s.class_id for s in shapes] == [1, 2, 3, 4, 5, 6]
    assert shapes[0] == BoxShape(class_id=1, bbox=(10, 20, 30, 40))
    assert shapes[1] == PolygonShape(class_id=2, points=SQUARE)
    assert mapped.report.shapes == 6 and mapped.report.images == 1
    assert {r.label: r.class_name for r in mapped.report.labels.values()}["pedestrian"] == (
        "Pedestrian"
    )


def test_an_unknown_label_refuses_everything_until_it_is_mapped_or_left_out() -> None:
    foreign = one(BOX, ForeignShape("bus", "bbox", bbox=(1, 1, 5, 5)))
    refused = map_onto(foreign, ONTOLOGY)
    assert not refused.report.ok and refused.annotations == {}
    assert refused.report.refused == [
        "label 'bus': the ontology has no class 'bus'"
        " (map it to a class, or leave it out with bus=)"
    ]
    renamed = map_onto(foreign, ONTOLOGY, rename={"bus": "car"})
    assert [s.class_id for s in renamed.annotations["a.jpg"].shapes] == [1, 1]
    left_out = map_onto(foreign, ONTOLOGY, rename={"bus": None})
    assert len(left_out.annotations["a.jpg"].shapes) == 1
    assert left_out.report.labels["bus"].class_name is None


def test_kinds_that_do_not_fit_are_refused_but_a_polygon_may_be_a_box() -> None:
    as_box = map_onto(one(ForeignShape("car", "polygon", points=SQUARE)), ONTOLOGY)
    assert as_box.annotations["a.jpg"].shapes == (BoxShape(class_id=1, bbox=(0, 0, 10, 10)),)
    assert as_box.report.labels["car"].converted == 1
    refused = map_onto(one(ForeignShape("lane", "bbox", bbox=(1, 1, 5, 5))), ONTOLOGY)
    assert refused.report.refused == [
        "a.jpg: a bbox of 'lane' cannot be a polyline of class 'lane'"
    ]


def test_keypoints_must_fit_the_skeleton_and_are_put_in_its_order() -> None:
    foreign = one(ForeignShape("person", "keypoints", keypoints=((6, 90, 2), (5, 5, 1))))
    foreign.skeletons["person"] = ("foot", "head")
    mapped = map_onto(foreign, ONTOLOGY)
    assert mapped.annotations["a.jpg"].shapes == (
        KeypointsShape(class_id=4, keypoints=((5, 5, 1), (6, 90, 2))),
    )
    three = one(ForeignShape("person", "keypoints", keypoints=((1, 1, 2),) * 3))
    assert map_onto(three, ONTOLOGY).report.refused == [
        "a.jpg: a keypoints of 'person' has 3 keypoints; class 'person' has 2"
    ]


def test_shapes_off_the_image_and_invalid_geometry_are_refused() -> None:
    off = map_onto(one(ForeignShape("car", "bbox", bbox=(90, 90, 30, 30))), ONTOLOGY)
    assert off.report.refused == ["a.jpg: a bbox of 'car' lies outside the 100x100 image"]
    wrong_mask = one(ForeignShape("road", "mask", rle=Rle(size=(50, 50), counts=(2500,))))
    assert not map_onto(wrong_mask, ONTOLOGY).report.ok
    two_points = map_onto(one(ForeignShape("pedestrian", "polygon", points=SQUARE[:2])), ONTOLOGY)
    assert two_points.report.refused and "at least 3" in two_points.report.refused[0]
    # Without a size in the file, the place is not checked here (ingest checks it on upload).
    unknown = map_onto(
        one(ForeignShape("car", "bbox", bbox=(90, 90, 30, 30)), width=None), ONTOLOGY
    )
    assert unknown.report.ok


def test_attributes_the_class_does_not_declare_are_dropped_and_counted() -> None:
    shape = ForeignShape(
        "car",
        "bbox",
        bbox=(1, 1, 5, 5),
        attributes={"parked": True, "colour": "green", "make": "x"},
    )
    mapped = map_onto(one(shape), ONTOLOGY)
    assert mapped.annotations["a.jpg"].shapes[0].attributes == {"parked": True}
    assert mapped.report.dropped_attributes == 2


def test_pre_labels_name_the_import_as_their_source() -> None:
    scored = ForeignShape("car", "bbox", bbox=(1, 1, 5, 5), score=0.8)
    (shape,) = (
        map_onto(one(scored), ONTOLOGY, source_model="import:coco").annotations["a.jpg"].shapes
    )
    assert shape.source is not None
    assert (shape.source.by, shape.source.model, shape.source.confidence) == (
        "model",
        "import:coco",
        0.8,
    )


def test_the_report_names_mapping_entries_the_file_does_not_use() -> None:
    mapped = map_onto(one(BOX), ONTOLOGY, rename={"truck": "car"})
    assert mapped.report.ok
    assert mapped.report.notes == ["the mapping names 'truck', which the file does not use"]
    assert mapped.report.as_dict()["labels"] == [
        {"label": "car", "class_name": "car", "shapes": 1, "converted": 0}
    ]


def test_two_images_of_one_name_are_refused() -> None:
    foreign = ForeignSet("coco", [ForeignImage("a.jpg", 100, 100, (BOX,))] * 2)
    assert map_onto(foreign, ONTOLOGY).report.refused == [
        "a.jpg: two images of the file have this name"
    ]
