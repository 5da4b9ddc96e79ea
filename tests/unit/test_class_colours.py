"""A class's own colour: checked as `#rrggbb`, and carried to the tools that draw classes in
colour (CVAT's label meta, Label Studio's label config)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from pydantic import ValidationError

from aviary.contracts.shapes import BoxShape, Ontology, OntologyClass
from tests.unit.test_export_formats import build, make_item

ONTOLOGY = Ontology(
    classes=(OntologyClass(id=1, name="car", colour="#12abEF"), OntologyClass(id=2, name="bus"))
)


@pytest.mark.parametrize("bad", ["red", "#12ab", "#12abefa", "12abef", "#12abeg"])
def test_a_colour_is_six_hex_digits_after_a_hash(bad: str) -> None:
    with pytest.raises(ValidationError):
        OntologyClass(id=1, name="car", colour=bad)


def test_cvat_and_label_studio_draw_the_class_in_its_colour(tmp_path: Path) -> None:
    item = make_item("itm_c", (BoxShape(class_id=1, bbox=(1, 1, 5, 5)),), (64, 48))
    files, _ = build(tmp_path, (item,), formats=("cvat", "labelstudio"), ontology=ONTOLOGY)
    meta = ET.fromstring(files["cvat/annotations.xml"])  # noqa: S314 - our own output
    colours = {label.findtext("name"): label.findtext("color") for label in meta.iter("label")}
    assert colours == {"car": "#12abEF", "bus": None}
    config = ET.fromstring(files["labelstudio/config.xml"])  # noqa: S314 - our own output
    backgrounds = {label.get("value"): label.get("background") for label in config.iter("Label")}
    assert backgrounds["car"] == "#12abEF" and backgrounds["bus"] not in (None, "#12abEF")
