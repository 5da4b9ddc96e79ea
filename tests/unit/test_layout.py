"""The house keeps its map: shared/ grouped by concern, and docs/architecture.md naming it all."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT / "shared"
MAP = (ROOT / "docs" / "architecture.md").read_text()


def test_shared_keeps_at_most_twelve_modules_at_its_top() -> None:
    top = sorted(p.name for p in SHARED.glob("*.py") if p.name != "__init__.py")
    assert len(top) <= 12, top


def test_each_room_of_shared_says_what_it_holds() -> None:
    rooms = [p for p in SHARED.iterdir() if p.is_dir() and any(p.glob("*.py"))]
    assert {p.name for p in rooms} >= {"domain", "messaging", "security", "store", "web"}
    for room in rooms:
        init = room / "__init__.py"
        assert init.is_file(), room
        assert ast.get_docstring(ast.parse(init.read_text())), f"{room.name}/ has no docstring"


def map_entries() -> dict[str, str]:
    """The map's entries by folder (`shared`, `shared/store`, ...), each with its text."""
    block = re.search(r"^## The map\n+```\n(.*?)```", MAP, re.DOTALL | re.MULTILINE)
    assert block, "docs/architecture.md has no map"
    entries: dict[str, str] = {}
    parent = current = ""
    for line in block.group(1).splitlines():
        if top := re.match(r"^(\S+)/\s", line):
            parent = current = top.group(1)
        elif room := re.match(r"^  (\w+)/\s", line):
            current = f"{parent}/{room.group(1)}"
        entries[current] = entries.get(current, "") + line + "\n"
    return entries


def test_the_architecture_map_names_every_module_of_shared_where_it_lives() -> None:
    entries = map_entries()
    for module in SHARED.rglob("*.py"):
        if module.name == "__init__.py":
            continue
        folder = str(module.parent.relative_to(ROOT))
        assert re.search(rf"\b{re.escape(module.name)}\b", entries.get(folder, "")), (
            f"{module.relative_to(ROOT)} is not on the map under {folder}/"
        )


def test_the_map_names_each_folder_of_the_pages() -> None:
    web = map_entries().get("web", "")
    folders = [
        p.name
        for p in (ROOT / "web").iterdir()
        if p.is_dir() and p.name not in {"node_modules", "__pycache__"}
    ]
    assert folders
    for folder in folders:
        assert re.search(rf"\b{folder}/", web), f"web/{folder}/ is not on the map"
