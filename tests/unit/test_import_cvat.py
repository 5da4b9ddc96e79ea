"""Unit tests for the CVAT XML 1.1 reader (client/aviary/interop/cvat.py): CVAT for images, every
element it reads, masks pixel for pixel, attributes and what is noted; CVAT for video tracks;
refused declarations and every other refusal with its message; and Aviary's own CVAT export
read back, mapped onto its ontology and compared shape by shape.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from aviary.contracts.shapes import (
    BoxShape,
    ClassificationShape,
    KeypointsShape,
    MaskShape,
    Ontology,
    OntologyClass,
    PolygonShape,
    PolylineShape,
    Shape,
    Skeleton,
)
from aviary.interop.cvat import ForeignTrack, TrackBox, read, read_tracks
from aviary.interop.foreign import ForeignFormatError, ForeignShape
from aviary.interop.mapping import map_onto
from services.export.formats import PackageItem
from shared.domain import masks
from tests.unit.test_export_formats import (
    EVERY_KEYPOINT_PLACED,
    ITEMS,
    ONTOLOGY,
    WEIRD,
    build,
    make_item,
)

W, H = 64, 48

META = """
  <meta>
    <task>
      <id>4</id><name>street</name><size>2</size><mode>annotation</mode>
      <labels>
        <label><name>car</name><type>rectangle</type><attributes>
          <attribute><name>parked</name><mutable>False</mutable><input_type>checkbox</input_type>
            <default_value>false</default_value><values>false</values></attribute>
          <attribute><name>answer</name><mutable>False</mutable><input_type>select</input_type>
            <default_value>true</default_value><values>true\nfalse\nmaybe</values></attribute>
        </attributes></label>
        <label><name>person</name><type>skeleton</type><attributes/></label>
        <label><name>head</name><type>points</type><attributes/><parent>person</parent></label>
        <label><name>hip</name><type>points</type><attributes/><parent>person</parent></label>
        <label><name>hand</name><type>points</type><attributes/><parent>person</parent></label>
      </labels>
    </task>
  </meta>"""


def document(body: str, meta: str = META) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n  <version>1.1</version>'
        f"{meta}\n{body}\n</annotations>\n"
    )


def write(tmp_path: Path, text: str, name: str = "annotations.xml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def image(body: str, name: str = "street.jpg", size: str = f'width="{W}" height="{H}"') -> str:
    return f'  <image id="0" name="{name}" {size}>\n{body}\n  </image>'


def shapes_of(tmp_path: Path, body: str) -> tuple[ForeignShape, ...]:
    return read(write(tmp_path, document(image(body)))).images[0].shapes


def refusal(tmp_path: Path, text: str) -> str:
    with pytest.raises(ForeignFormatError) as caught:
        read(write(tmp_path, text))
    return str(caught.value)


# ----- CVAT's mask RLE, the test's own encoder --------------------------------------------------


def cvat_mask(mask: np.ndarray) -> str:
    """CVAT's mask attributes: the box of the set pixels, and runs over it row by row from a
    run of zeros (as CVAT writes them and Datumaro reads them)."""
    rows, columns = np.nonzero(mask)
    top, left = int(rows.min()), int(columns.min())
    height, width = int(rows.max()) - top + 1, int(columns.max()) - left + 1
    flat = mask[top : top + height, left : left + width].ravel()  # row by row
    runs: list[int] = []
    value, length = False, 0
    for pixel in flat:
        if bool(pixel) != value:
            runs.append(length)
            value, length = not value, 0
        length += 1
    runs.append(length)
    return (
        f'rle="{", ".join(map(str, runs))}" left="{left}" top="{top}"'
        f' width="{width}" height="{height}"'
    )


def blob() -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W]
    mask: np.ndarray = ((xx - 40) / 18) ** 2 + ((yy - 30) / 12) ** 2 <= 1
    mask[28:32, 35:45] = False  # a hole
    mask[5, 5] = True  # a lone pixel away from the rest
    return mask


# ----- CVAT for images -------------------------------------------------------------------------


def test_every_shape_of_an_image(tmp_path: Path) -> None:
    body = "\n".join(
        [
            '<box label="car" source="manual" occluded="0" xtl="10.50" ytl="4.00" xbr="30.50"'
            ' ybr="24.25" z_order="0"/>',
            '<polygon label="road" occluded="0" points="0.00,40.00;60.00,40.00;60.00,47.00"/>',
            '<polyline label="lane" occluded="0" points="0.00,45.00;63.00,45.00"/>',
            '<points label="pose" occluded="0" points="5.00,6.00;7.50,8.00"/>',
            f'<mask label="puddle" source="manual" occluded="0" {cvat_mask(blob())} z_order="0"/>',
            '<tag label="weather" source="manual"><attribute name="sky">clear</attribute></tag>',
        ]
    )
    found = read(write(tmp_path, document(image(body))))
    [foreign] = found.images
    assert (foreign.name, foreign.width, foreign.height) == ("street.jpg", W, H)
    box, polygon, polyline, points, mask, tag = foreign.shapes
    assert box == ForeignShape("car", "bbox", bbox=(10.5, 4.0, 20.0, 20.25))
    assert polygon == ForeignShape("road", "polygon", points=((0, 40), (60, 40), (60, 47)))
    assert polyline == ForeignShape("lane", "polyline", points=((0, 45), (63, 45)))
    assert points == ForeignShape("pose", "keypoints", keypoints=((5, 6, 2), (7.5, 8, 2)))
    assert mask.kind == "mask" and mask.rle is not None
    assert tag == ForeignShape("weather", "classification", attributes={"sky": "clear"})
    assert found.format == "cvat" and found.notes == []


def test_a_mask_pixel_for_pixel_as_coco_counts(tmp_path: Path) -> None:
    wanted = blob()
    [shape] = shapes_of(tmp_path, f'<mask label="puddle" {cvat_mask(wanted)}/>')
    assert shape.rle is not None and shape.rle.size == (H, W)
    assert isinstance(shape.rle.counts, tuple)  # COCO's uncompressed counts
    assert np.array_equal(masks.decode(shape.rle), wanted)
    assert shape.rle.counts == tuple(int(n) for n in masks.runs_of(wanted))


def test_a_mask_touching_the_corners(tmp_path: Path) -> None:
    wanted = np.zeros((H, W), dtype=bool)
    wanted[0, :] = wanted[:, W - 1] = wanted[H - 1, 0] = True
    [shape] = shapes_of(tmp_path, f'<mask label="puddle" {cvat_mask(wanted)}/>')
    assert shape.rle is not None and np.array_equal(masks.decode(shape.rle), wanted)


def test_attributes_checkboxes_and_occluded(tmp_path: Path) -> None:
    body = "\n".join(
        [
            '<box label="car" occluded="1" xtl="0" ytl="0" xbr="1" ybr="1">'
            '<attribute name="parked">True</attribute>'  # a checkbox: a boolean
            '<attribute name="answer">true</attribute>'  # a select: its text
            '<attribute name="note"></attribute>'
            "</box>",
            '<box label="bus" occluded="1" xtl="0" ytl="0" xbr="1" ybr="1">'
            '<attribute name="occluded">false</attribute>'  # the attribute says otherwise
            '<attribute name="lights">false</attribute>'  # no meta for it: a boolean
            "</box>",
        ]
    )
    found = read(write(tmp_path, document(image(body))))
    car, bus = found.images[0].shapes
    assert car.attributes == {"parked": True, "answer": "true", "note": "", "occluded": True}
    assert bus.attributes == {"occluded": False, "lights": False}
    assert (
        "1 shapes marked occluded: kept as the boolean attribute 'occluded' (dropped where the"
        " class declares no such attribute)"
    ) in found.notes


def test_what_cannot_be_kept_is_noted(tmp_path: Path) -> None:
    body = "\n".join(
        [
            '<box label="car" source="auto" group_id="3" xtl="0" ytl="0" xbr="1" ybr="1"/>',
            '<box label="car" source="semi-auto" xtl="0" ytl="0" xbr="1" ybr="1"/>',
            '<box label="car" source="auto" xtl="0" ytl="0" xbr="1" ybr="1"/>',
            '<ellipse label="eye" cx="5" cy="5" rx="1" ry="2"/>',
            '<cuboid label="crate" xtl1="0" ytl1="0" xbl1="0" ybl1="1" xtr1="1" ytr1="0"'
            ' xbr1="1" ybr1="1" xtl2="0" ytl2="0" xbl2="0" ybl2="1" xtr2="1" ytr2="0"'
            ' xbr2="1" ybr2="1"/>',
        ]
    )
    found = read(write(tmp_path, document(image(body))))
    assert [s.score for s in found.images[0].shapes] == [None, None, None]
    assert found.notes == [
        "shapes CVAT marks as not drawn by hand, by source: auto (2), semi-auto (1); read like"
        " any other, with no score (CVAT keeps none)",
        "1 shapes in CVAT groups: the grouping dropped",
        "elements Aviary cannot keep, dropped: <cuboid> (1), <ellipse> (1)",
    ]


def test_skeletons_are_named_keypoints_in_metas_order(tmp_path: Path) -> None:
    first = (
        '<skeleton label="person" source="manual" z_order="0">'
        '<points label="hip" occluded="1" outside="0" points="20.00,30.00"/>'
        '<points label="head" occluded="0" outside="0" points="20.00,10.00"/>'
        '<points label="hand" occluded="0" outside="1" points="9.00,9.00"/>'
        "</skeleton>"
    )
    second = '<skeleton label="person"><points label="head" points="1.00,2.00"/></skeleton>'
    text = document(image(first) + "\n" + image(second, name="b.jpg"))
    found = read(write(tmp_path, text))
    assert found.skeletons == {"person": ("head", "hip", "hand")}
    assert found.images[0].shapes == (
        ForeignShape("person", "keypoints", keypoints=((20, 10, 2), (20, 30, 1), (0, 0, 0))),
    )
    assert found.images[1].shapes[0].keypoints == ((1, 2, 2), (0, 0, 0), (0, 0, 0))


def test_skeletons_without_meta_take_the_names_in_the_order_they_come(tmp_path: Path) -> None:
    first = '<skeleton label="p"><points label="b" points="1,1"/></skeleton>'
    second = (
        '<skeleton label="p"><points label="a" points="2,2"/><points label="b" points="3,3"/>'
        "</skeleton>"
    )
    found = read(write(tmp_path, document(image(first) + image(second, name="2.jpg"), meta="")))
    assert found.skeletons == {"p": ("b", "a")}
    assert [s.keypoints for i in found.images for s in i.shapes] == [
        ((1, 1, 2), (0, 0, 0)),
        ((3, 3, 2), (2, 2, 2)),
    ]


def test_an_image_without_shapes_and_one_without_a_size(tmp_path: Path) -> None:
    text = document(
        '  <image id="0" name="a/b/empty.png" width="8" height="6"/>\n'
        + image('<tag label="night"/>', name="c.jpg", size="")
    )
    empty, unsized = read(write(tmp_path, text)).images
    assert (empty.name, empty.width, empty.height, empty.shapes) == ("a/b/empty.png", 8, 6, ())
    assert (unsized.width, unsized.height) == (None, None)


def test_a_folder_and_a_zip_as_cvat_exports_them(tmp_path: Path) -> None:
    text = document(image('<tag label="night"/>'))
    folder = tmp_path / "export"
    folder.mkdir()
    write(folder, text)
    archive = tmp_path / "task_4_annotations.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("annotations.xml", text)
        zf.writestr("images/street.jpg", b"")
    assert read(folder).images == read(archive).images == read(folder / "annotations.xml").images
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("other.xml", text)
    with pytest.raises(ForeignFormatError, match=r"^empty.zip: the zip has no annotations.xml"):
        read(empty)


# ----- refusals --------------------------------------------------------------------------------


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<annotations><image id="0" name="&lol3;" width="1" height="1"/></annotations>
"""
EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE annotations SYSTEM "http://example.com/evil.dtd">
<annotations/>
"""


@pytest.mark.parametrize("text", [BILLION_LAUGHS, EXTERNAL], ids=["entities", "doctype"])
def test_declarations_are_refused(tmp_path: Path, text: str) -> None:
    message = "the XML declares a DOCTYPE or ENTITY, which CVAT never writes: refused"
    assert refusal(tmp_path, text) == f"annotations.xml: {message}"
    with pytest.raises(ForeignFormatError, match="DOCTYPE or ENTITY"):
        read_tracks(tmp_path / "annotations.xml")


def box(extra: str) -> str:
    return f'<box label="car" xtl="1" ytl="2" xbr="3" ybr="4" {extra}/>'


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('<box xtl="1" ytl="2" xbr="3" ybr="4"/>', "a shape has a `label`"),
        ('<box label="car" xtl="a" ytl="2" xbr="3" ybr="4"/>', "xtl is a number, not 'a'"),
        ('<box label="car" xtl="1" ytl="2" ybr="4"/>', "xbr is a number, not None"),
        (
            '<box label="car" xtl="nan" ytl="2" xbr="3" ybr="4"/>',
            "xtl is a finite number, not 'nan'",
        ),
        (
            '<box label="car" xtl="5" ytl="2" xbr="3" ybr="4"/>',
            "a box whose bottom-right corner is above or left of its top-left",
        ),
        ('<polygon label="road" points="1,2;3"/>', "a point is x,y, not '3'"),
        ('<polyline label="lane"/>', "a shape has `points`"),
        (
            '<mask label="m" rle="0, 5" left="0" top="0" width="2" height="2"/>',
            "a mask's `rle` covers 5 pixels, not its box's 2x2",
        ),
        (
            '<mask label="m" rle="0, 4" left="63" top="0" width="2" height="2"/>',
            "a mask's box (63, 0, 2x2) is not on the 64x48 image",
        ),
        (
            '<mask label="m" rle="0; 4" left="0" top="0" width="2" height="2"/>',
            "a mask's `rle` is numbers separated by commas",
        ),
        (
            '<box label="car" xtl="1" ytl="2" xbr="3" ybr="4"><attribute>x</attribute></box>',
            "an <attribute> has a `name`",
        ),
    ],
)
def test_broken_shapes_are_refused_with_where(tmp_path: Path, body: str, message: str) -> None:
    tag = body.split()[0][1:]
    assert refusal(tmp_path, document(image(body))) == (
        f"annotations.xml image 0 <{tag}> 0: {message}"
    )


def test_a_skeleton_with_a_point_twice_is_refused(tmp_path: Path) -> None:
    body = (
        '<skeleton label="p"><points label="a" points="1,1"/><points label="a" points="2,2"/>'
        "</skeleton>"
    )
    assert refusal(tmp_path, document(image(body))) == (
        "annotations.xml image 0 <skeleton> 0 point 1: a skeleton with two points 'a'"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<coco/>", "annotations.xml: not CVAT XML: the root element is <coco>, not <annotations>"),
        ("<annotations><image", "annotations.xml: not well-formed XML ("),
        ("", "annotations.xml: not well-formed XML ("),
        (
            document('<image id="0" width="1" height="1"/>'),
            "annotations.xml image 0: an <image> has a `name`",
        ),
        (
            document('<image id="3" name="a" width="0" height="1"/>'),
            "annotations.xml image 3: the image's width is at least 1",
        ),
        (
            document(
                image('<mask label="m" rle="0, 1" left="0" top="0" width="1" height="1"/>', size="")
            ),
            "annotations.xml image 0 <mask> 0: a mask on an image without width and height",
        ),
    ],
)
def test_what_is_not_cvat_for_images_is_refused(tmp_path: Path, text: str, message: str) -> None:
    assert refusal(tmp_path, text).startswith(message)


def test_a_video_file_is_refused_by_the_images_reader(tmp_path: Path) -> None:
    path = write(tmp_path, document(TRACKS))
    with pytest.raises(ForeignFormatError) as caught:
        read(path)
    assert str(caught.value).endswith(
        "this is CVAT for video (tracks, no images): read it with read_tracks"
    )


def test_no_such_file(tmp_path: Path) -> None:
    with pytest.raises(ForeignFormatError, match="no such file"):
        read(tmp_path / "missing.xml")


# ----- CVAT for video --------------------------------------------------------------------------

VIDEO_META = """
  <meta>
    <task>
      <size>120</size><mode>interpolation</mode>
      <labels><label><name>car</name><type>rectangle</type><attributes>
        <attribute><name>lights</name><mutable>True</mutable><input_type>checkbox</input_type>
          <default_value>false</default_value><values>false</values></attribute>
      </attributes></label></labels>
      <original_size><width>1280</width><height>720</height></original_size>
    </task>
  </meta>"""
TRACKS = """
  <track id="0" label="car" source="manual">
    <box frame="5" outside="1" occluded="0" keyframe="1" xtl="10" ytl="20" xbr="30" ybr="60"/>
    <box frame="0" outside="0" occluded="1" keyframe="1" xtl="10.5" ytl="20" xbr="30" ybr="60">
      <attribute name="lights">true</attribute>
    </box>
  </track>
  <track id="1" label="lane" source="auto">
    <polyline frame="0" outside="0" occluded="0" keyframe="1" points="0,0;1,1"/>
  </track>
  <track id="2" label="car" source="auto">
    <box frame="3" outside="0" occluded="0" keyframe="0" xtl="0" ytl="0" xbr="1" ybr="1"/>
  </track>"""


def test_tracks_with_their_boxes_by_frame(tmp_path: Path) -> None:
    found = read_tracks(write(tmp_path, document(TRACKS, meta=VIDEO_META)))
    assert (found.width, found.height, found.frames) == (1280, 720, 120)
    assert found.tracks == [
        ForeignTrack(
            0,
            "car",
            (
                TrackBox(0, (10.5, 20, 19.5, 40), False, True, True, {"lights": True}),
                TrackBox(5, (10, 20, 20, 40), True, False, True),
            ),
        ),
        ForeignTrack(2, "car", (TrackBox(3, (0, 0, 1, 1), False, False, False),), "auto"),
    ]
    assert found.notes == ["tracks of shapes other than boxes, left out: <polyline> (1)"]


def test_tracks_without_meta(tmp_path: Path) -> None:
    found = read_tracks(write(tmp_path, document(TRACKS, meta="")))
    assert (found.width, found.height, found.frames) == (None, None, None)
    assert len(found.tracks) == 2


@pytest.mark.parametrize(
    ("track", "message"),
    [
        (
            '<track id="4" label="car"><box frame="1" xtl="0" ytl="0" xbr="1" ybr="1"/>'
            '<box frame="1" xtl="0" ytl="0" xbr="1" ybr="1"/></track>',
            "annotations.xml track 4: a track with two boxes on one frame",
        ),
        (
            '<track id="4" label="car"><box frame="1" rotation="90" xtl="0" ytl="0" xbr="1"'
            ' ybr="1"/></track>',
            "annotations.xml track 4 box 0: a track's box turns",
        ),
        (
            '<track id="4" label="car"><box xtl="0" ytl="0" xbr="1" ybr="1"/></track>',
            "annotations.xml track 4 box 0: a box's frame is a whole number, not None",
        ),
        (
            '<track id="4"><box frame="1"/></track>',
            "annotations.xml track 4: a track has a `label`",
        ),
        (
            '<track id="x" label="car"/>',
            "annotations.xml track x: a track's id is a whole number, not 'x'",
        ),
    ],
)
def test_broken_tracks_are_refused(tmp_path: Path, track: str, message: str) -> None:
    with pytest.raises(ForeignFormatError) as caught:
        read_tracks(write(tmp_path, document(track)))
    assert str(caught.value).startswith(message)


def test_an_images_file_is_refused_by_the_tracks_reader(tmp_path: Path) -> None:
    with pytest.raises(ForeignFormatError) as caught:
        read_tracks(write(tmp_path, document(image('<tag label="night"/>'))))
    assert str(caught.value).endswith(
        "this is CVAT for images (images, no tracks): read it with read"
    )


# ----- Aviary's own CVAT for images export, read back ------------------------------------------


def exported(
    tmp_path: Path, items: tuple[PackageItem, ...] = ITEMS, ontology: Ontology = ONTOLOGY
) -> Path:
    files, _ = build(tmp_path, items, formats=("cvat",), ontology=ontology)
    return write(tmp_path, files["cvat/annotations.xml"].decode())


def same(original: Shape, back: Shape) -> None:
    """The shape as CVAT carries it: coordinates to 2 decimals, provenance not at all."""
    assert back.kind == original.kind and back.class_id == original.class_id
    assert back.attributes == original.attributes
    if isinstance(original, BoxShape):
        assert back.bbox == pytest.approx(original.bbox, abs=0.01)  # type: ignore[union-attr]
    elif isinstance(original, PolygonShape | PolylineShape):
        flat = [v for p in back.points for v in p]  # type: ignore[union-attr]
        assert flat == pytest.approx([v for p in original.points for v in p], abs=0.01)
    elif isinstance(original, KeypointsShape):
        # CVAT's points have no visibility: a hidden keypoint comes back visible
        assert back.keypoints == tuple(  # type: ignore[union-attr]
            (x, y, 2 if v else 0) for x, y, v in original.keypoints
        )
    elif isinstance(original, MaskShape):
        assert isinstance(back, MaskShape)
        assert np.array_equal(masks.decode(back.rle), masks.decode(original.rle))
    else:
        assert isinstance(original, ClassificationShape)


# XML 1.0 cannot hold a control character: the exporter writes U+FFFD in its place, so the
# class comes back under that name and is mapped to its class by hand
RENAME = {WEIRD.replace("\x01", "\ufffd"): WEIRD}


def test_our_own_export_maps_back_shape_by_shape(tmp_path: Path) -> None:
    items = EVERY_KEYPOINT_PLACED
    found = read(exported(tmp_path, items))
    mapped = map_onto(found, ONTOLOGY, rename=RENAME)
    assert mapped.report.ok, mapped.report.refused
    # one image per item, in the delivery's order, named by the package's file name
    assert [i.name.split(".")[0] for i in found.images] == [i.item_id for i in items]
    for item, foreign in zip(items, found.images, strict=True):
        back = mapped.annotations[foreign.name].shapes
        assert (foreign.width, foreign.height) == (item.width, item.height)
        # CVAT writes an image's tags after its shapes
        ordered = sorted(item.shapes, key=lambda s: s.kind == "classification")
        assert len(back) == len(ordered)
        for original, returned in zip(ordered, back, strict=True):
            same(original, returned)


def test_our_own_masks_come_back_pixel_for_pixel(tmp_path: Path) -> None:
    ontology = Ontology(classes=(OntologyClass(id=4, name="puddle", kind="mask"),))
    wanted = blob()
    item = make_item("itm_mask", (MaskShape(class_id=4, rle=masks.encode(wanted)),), (W, H))
    found = read(exported(tmp_path, (item,), ontology))
    mapped = map_onto(found, ontology)
    [shape] = mapped.annotations[found.images[0].name].shapes
    assert isinstance(shape, MaskShape) and np.array_equal(masks.decode(shape.rle), wanted)


def test_keypoints_not_placed_do_not_come_back_and_the_mapping_says_so(tmp_path: Path) -> None:
    # POSE has a keypoint not placed: CVAT's points leave it out, so the count no longer fits
    found = read(exported(tmp_path))
    mapped = map_onto(found, ONTOLOGY, rename=RENAME)
    assert mapped.report.refused == [
        f"{found.images[2].name}: a keypoints of 'pose' has 3 keypoints; class 'pose' has 4"
    ]
    assert mapped.annotations == {}


def test_a_skeleton_class_maps_by_name(tmp_path: Path) -> None:
    ontology = Ontology(
        classes=(
            OntologyClass(
                id=1,
                name="person",
                kind="keypoints",
                skeleton=Skeleton(keypoints=("hand", "head", "hip")),
            ),
        )
    )
    body = (
        '<skeleton label="person"><points label="hip" points="20,30"/>'
        '<points label="head" points="20,10"/><points label="hand" points="9,9" outside="1"/>'
        "</skeleton>"
    )
    mapped = map_onto(read(write(tmp_path, document(image(body)))), ontology)
    assert mapped.report.ok, mapped.report.refused
    [shape] = mapped.annotations["street.jpg"].shapes
    assert shape.keypoints == ((0, 0, 0), (20, 10, 2), (20, 30, 2))  # type: ignore[union-attr]


def test_two_images_of_one_name_are_refused(tmp_path: Path) -> None:
    text = document(image("") + '\n  <image id="1" name="street.jpg" width="1" height="1"/>')
    assert refusal(tmp_path, text) == (
        "annotations.xml image 1: image 0 has the name 'street.jpg' too: an image is imported once"
    )
