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


def _luminance(colour: str) -> float:
    """WCAG's relative luminance of `#rrggbb`."""
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_chart_colours_stand_out_in_both_themes() -> None:
    """Lines and marks at 3:1 at least on every background of both themes (WCAG 1.4.11);
    the axes' muted text colour at 4.5:1 (text)."""
    palette = (WEB / "common" / "palette.js").read_text()
    colours = re.findall(r'"(#[0-9a-fA-F]{6})"', palette)
    assert len(colours) >= 7  # the series and the alert colour
    style = (WEB / "common" / "style.css").read_text()
    dark, light = style.split(':root[data-theme="light"]', 1)
    backgrounds = [
        value
        for theme in (dark, light.split("}", 1)[0])
        for name in ("--bg", "--panel")
        for value in re.findall(rf"{name}:\s*(#[0-9a-fA-F]{{6}})", theme)[:1]
    ]
    assert len(backgrounds) == 4
    for colour in colours:
        for background in backgrounds:
            assert _contrast(colour, background) >= 3, (colour, background)
    for theme in (dark, light.split("}", 1)[0]):
        muted = re.findall(r"--muted:\s*(#[0-9a-fA-F]{6})", theme)[0]
        panel = re.findall(r"--panel:\s*(#[0-9a-fA-F]{6})", theme)[0]
        assert _contrast(muted, panel) >= 4.5, (muted, panel)
