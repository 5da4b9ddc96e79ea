"""A Label Studio labeling config, read: its controls (the elements with `name` and `toName`),
their labels, and the hints Aviary's own export writes on them (`aviaryClass`, `aviaryAttribute`,
`aviaryType`, `aviaryRole`), so that reading a delivery back gives attributes, hidden keypoints
and keypoint classes their names again. The exporter (services/export/formats/labelstudio.py)
writes the same hint names from here. Label Studio ignores attributes it does not know.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aviary.interop.foreign import ForeignFormatError, safe_xml

HINT_CLASS = "aviaryClass"  # the class (its label value) a control belongs to
HINT_ATTRIBUTE = "aviaryAttribute"  # an attribute control: the attribute's name
HINT_TYPE = "aviaryType"  # ... and its type: boolean, enum or text
HINT_ROLE = "aviaryRole"  # "hidden": the keypoint choice that means visibility 1


@dataclass(frozen=True)
class Control:
    """A control of a labeling config (an element with `name` and `toName`): its tag as
    written, its Label / Choice values (in `model_index` order where every label has one), and
    the hints of Aviary's export (None where absent)."""

    name: str
    tag: str
    labels: tuple[str, ...]
    per_region: bool
    cls: str | None = None  # aviaryClass: the class (label value) it belongs to
    attribute: str | None = None  # aviaryAttribute: the attribute it holds
    type: str | None = None  # aviaryType: boolean, enum or text
    role: str | None = None  # aviaryRole: "hidden", a keypoint's hidden choice


def read_config(path: Path) -> dict[str, Control]:
    """The controls of a Label Studio labeling config (XML), by name."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ForeignFormatError(f"cannot read the labeling config ({exc})", str(path)) from exc
    root = safe_xml(data, path.name, "a labeling config")
    controls: dict[str, Control] = {}
    for element in root.iter():
        name, to_name = element.get("name"), element.get("toName")
        if name is None or to_name is None:
            continue  # an object tag (Image), a View, a Header...
        if name in controls:
            raise ForeignFormatError(f"two controls are named {name!r}", path.name)
        children = [c for c in element.iter() if c.tag in ("Label", "Choice") and c.get("value")]
        if all((c.get("model_index") or "").isdigit() for c in children):
            children.sort(key=lambda c: int(c.get("model_index") or 0))
        controls[name] = Control(
            name=name,
            tag=element.tag,
            labels=tuple(dict.fromkeys(str(c.get("value")) for c in children)),
            per_region=element.get("perRegion", "").lower() == "true",
            cls=element.get(HINT_CLASS),
            attribute=element.get(HINT_ATTRIBUTE),
            type=element.get(HINT_TYPE),
            role=element.get(HINT_ROLE),
        )
    return controls
