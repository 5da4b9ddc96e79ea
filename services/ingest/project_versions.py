"""What changed from one version of a project to the next, in words a person reads in the
version list (`GET /v1/projects/{id}/versions`): classes by id (added, removed, renamed, their
kind, attributes or colour), vendors by name (added, removed, share, piece rate), the review
policy field by field, and every other setting by name. Pure: the snapshots come in as the
repository keeps them (the stored settings, secrets left out)."""

from __future__ import annotations

from typing import Any

Settings = dict[str, Any]

# Settings named in words; any other that changes is named by its field.
LABELS = {
    "piece_rate": "piece rate",
    "overlap": "people per item",
    "priority": "priority",
    "deadline": "deadline",
    "delivery_formats": "delivery formats",
    "include_images": "images in deliveries",
    "include_people": "people in deliveries",
    "webhook_url": "webhook",
    "reject_reasons": "reject reasons",
}
SPECIAL = {"name", "ontology", "vendors", "vendor_names", "review", "instructions"}


def version_changes(before: Settings, after: Settings) -> list[str]:
    """The changes from `before` to `after`, in a stable order."""
    changes: list[str] = []
    if before.get("name") != after.get("name"):
        changes.append(f"renamed {before.get('name')!r} → {after.get('name')!r}")
    changes += _class_changes(_classes(before), _classes(after))
    changes += _vendor_changes(before, after)
    changes += _field_changes(before.get("review") or {}, after.get("review") or {}, "review ")
    if before.get("instructions") != after.get("instructions"):
        changes.append("instructions changed")
    rest = sorted((set(before) | set(after)) - SPECIAL)
    for key in rest:
        if before.get(key) != after.get(key):
            label = LABELS.get(key, key.replace("_", " "))
            old, new = before.get(key), after.get(key)
            plain = all(
                isinstance(v, str | int | float | bool | list) or v is None for v in (old, new)
            )
            changes.append(f"{label} {_show(old)} → {_show(new)}" if plain else f"{label} changed")
    return changes


def _classes(settings: Settings) -> dict[int, dict[str, Any]]:
    return {int(c["id"]): c for c in (settings.get("ontology") or {}).get("classes", [])}


def _class_changes(old: dict[int, dict[str, Any]], new: dict[int, dict[str, Any]]) -> list[str]:
    changes = []
    for cid in sorted(set(old) | set(new)):
        a, b = old.get(cid), new.get(cid)
        if a is None and b is not None:
            changes.append(f"class {cid} {b['name']!r} ({b.get('kind', 'bbox')}) added")
        elif b is None and a is not None:
            changes.append(f"class {cid} {a['name']!r} removed")
        elif a is not None and b is not None:
            if a["name"] != b["name"]:
                changes.append(f"class {cid} renamed {a['name']!r} → {b['name']!r}")
            for key, what in (("kind", "kind"), ("colour", "colour")):
                if a.get(key) != b.get(key):
                    changes.append(f"class {cid} {what} {_show(a.get(key))} → {_show(b.get(key))}")
            if a.get("attributes") != b.get("attributes") or a.get("skeleton") != b.get("skeleton"):
                changes.append(f"class {cid} {b['name']!r}: attributes or skeleton changed")
    return changes


def _vendor_changes(before: Settings, after: Settings) -> list[str]:
    names = {**(before.get("vendor_names") or {}), **(after.get("vendor_names") or {})}
    old = {v["vendor_id"]: v for v in before.get("vendors") or []}
    new = {v["vendor_id"]: v for v in after.get("vendors") or []}
    changes = []
    for vid in sorted(set(old) | set(new), key=lambda v: names.get(v, v)):
        name = names.get(vid, vid)
        a, b = old.get(vid), new.get(vid)
        if a is None and b is not None:
            changes.append(f"vendor {name} added ({_share(b)})")
        elif b is None:
            changes.append(f"vendor {name} removed")
        elif a is not None and _share(a) != _share(b):
            changes.append(f"vendor {name}: {_share(a)} → {_share(b)}")
    return changes


def _share(v: dict[str, Any]) -> str:
    rate = v.get("piece_rate")
    return f"{v['share']:.0%}" + (f", piece rate {rate:g}" if rate is not None else "")


def _field_changes(old: Settings, new: Settings, prefix: str) -> list[str]:
    return [
        f"{prefix}{key.replace('_', ' ')} {_show(old.get(key))} → {_show(new.get(key))}"
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    ]


def _show(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "none"
    return f"{value:g}" if isinstance(value, float) else str(value)
