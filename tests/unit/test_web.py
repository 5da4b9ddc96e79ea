"""The pages in web/ hold together: every script is type-checked, every asset a page or module
names is there, and every service's page has its folder.

The browser resolves what a page names by URL: `/ui/common/<file>` is web/common/, any other
`/ui/<file>` is the page's own folder (each service serves one, shared/web/pages.py), and
`./<file>` is beside the module. tsc (`make lint`) checks the JavaScript itself.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
SCRIPTS = sorted(p for p in WEB.glob("*/*.js") if p.parent.name != "node_modules")
PAGES = sorted(WEB.glob("*/*.html"))
# `import ... from "x"`, `import "x"`, `import("x")`, and JSDoc's `import("x").Type`.
IMPORT = re.compile(r"""(?:\bfrom\s*|\bimport\s*\(?\s*)["']([^"']+)["']""")


class AssetLinks(HTMLParser):
    """The URLs a page loads: scripts, style sheets, images, icons."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href", "img": "src"}.get(tag)
        self.urls += [value for name, value in attrs if name == wanted and value]


def served_file(url: str, folder: Path) -> Path | None:
    """The file of web/ a page or module in `folder` gets for `url`; None for none of ours."""
    if url.startswith("/ui/common/"):
        return WEB / "common" / url.removeprefix("/ui/common/")
    if url.startswith("/ui/"):
        return folder / url.removeprefix("/ui/")
    if url.startswith(("./", "../")):
        return (folder / url).resolve()
    return None


def test_the_pages_are_found() -> None:
    assert {p.parent.name for p in PAGES} >= {"label", "review", "dashboard"}
    assert (WEB / "common" / "common.js") in SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(WEB)))
def test_every_script_is_type_checked(script: Path) -> None:
    assert script.read_text().startswith("// @ts-check\n"), (
        f"{script.relative_to(ROOT)} must begin with `// @ts-check` (tsc checks it)"
    )


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(WEB)))
def test_every_asset_a_page_loads_is_there(page: Path) -> None:
    links = AssetLinks()
    links.feed(page.read_text())
    assert links.urls, f"{page.relative_to(ROOT)} loads nothing"
    for url in links.urls:
        found = served_file(url, page.parent)
        assert found is not None, f"{page.relative_to(ROOT)} loads {url} from elsewhere"
        assert found.is_file(), f"{page.relative_to(ROOT)} loads {url}: no {found}"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(WEB)))
def test_every_module_a_script_imports_is_there(script: Path) -> None:
    for url in IMPORT.findall(script.read_text()):
        found = served_file(url, script.parent)
        assert found is not None, f"{script.relative_to(ROOT)} imports {url} from elsewhere"
        assert found.is_file(), f"{script.relative_to(ROOT)} imports {url}: no {found}"


def test_each_page_a_service_mounts_has_its_folder_and_home() -> None:
    mounted = {
        main.parent.name: match.group(1)
        for main in sorted((ROOT / "services").glob("*/main.py"))
        if (match := re.search(r"mount_pages\([^)]*?\"(\w+)\"\)", main.read_text()))
    }
    assert set(mounted) == {"dispatch", "review", "export"}
    for page in mounted.values():
        assert (WEB / page / f"{page}.html").is_file(), page
