"""The waveform tool in a real browser (Debian's chromium, headless, through Playwright), without
the services: web/ served as they serve it (under /ui/, with their CSP) by a small static
server in the test, a test page (tests/e2e/pages/waveform.html) that builds the labeling
tool's audio mode and the review desk's region player, and a recording the test makes (tones
and noise between silences, Ogg Opus at 16 kHz as ingest's listening copy) with its peaks in
ingest's format.

The annotator draws a segment with the mouse, moves its edge, types its transcript, splits
another at the cursor with S, deletes one, zooms, plays a segment at double speed (it stops at
the segment's end) and gets the transcript as the API takes it. The desk plays a clicked
segment and shows a version's words against the agreed text. A screenshot goes to
var/screenshots/label-audio.png.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import numpy as np
import pytest
import soundfile as sf  # type: ignore[import-untyped]  # ships no type hints
from playwright.async_api import Browser, Page

from shared.web.pages import CSP
from tests.e2e.test_workspaces import browser  # noqa: F401 - the fixture

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
PAGES = Path(__file__).parent / "pages"
SCREENSHOTS = ROOT / "var" / "screenshots"

RATE = 16_000
DURATION_S = 12.0
PART = (2.0, 10.0)
# What the recording holds: a tone, another, noise; silence between.
SOUNDS = ((2.5, 4.0, 440.0), (5.0, 6.5, 660.0), (7.5, 9.0, None))
PEAK_STEPS = (160, 640, 2560, 10240)
DASH = "\u2013"  # between a segment's times, as the pages write them
TIME_TOLERANCE_S = 0.03  # a mouse event lands on a whole pixel: ~9 ms at this zoom

SETTINGS = {
    "max_part_s": 60,
    "events": ["speech", "noise", "music", "overlap"],
    "speakers": [],
    "languages": ["en", "de"],
    "attributes": [
        {"name": "accent", "kind": "choice", "options": ["none", "strong"], "required": False},
        {"name": "overlapping", "kind": "flag", "options": [], "required": False},
    ],
}
GUIDELINES = "Write numbers as words. <script>alert('x')</script> Mark [unclear] words."


# ----- the recording and its peaks -------------------------------------------------------------


def recording() -> np.ndarray:
    t = np.arange(int(DURATION_S * RATE)) / RATE
    samples = np.zeros_like(t, dtype=np.float32)
    noise = np.random.default_rng(7).uniform(-0.3, 0.3, t.size).astype(np.float32)
    for start, end, freq in SOUNDS:
        inside = (t >= start) & (t < end)
        samples[inside] = 0.5 * np.sin(2 * np.pi * freq * t[inside]) if freq else noise[inside]
    return samples


def peaks(samples: np.ndarray) -> dict[str, Any]:
    """docs/media.md's peaks: base64 of int8 (min, max) pairs per `step` samples, the last pair
    over what is left, scaled from [-1, 1] to [-127, 127]."""
    levels = []
    for step in PEAK_STEPS:
        count = -(-samples.size // step)
        padded = np.concatenate([samples, np.full(count * step - samples.size, np.nan)])
        blocks = padded.reshape(count, step)
        pairs = np.stack([np.nanmin(blocks, axis=1), np.nanmax(blocks, axis=1)], axis=1)
        data = np.rint(np.clip(pairs, -1, 1) * 127).astype(np.int8).tobytes()
        levels.append({"step": step, "data": base64.b64encode(data).decode("ascii")})
    return {"sample_rate": RATE, "duration_s": samples.size / RATE, "levels": levels}


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("audio-media")
    samples = recording()
    out = io.BytesIO()
    sf.write(out, samples, RATE, format="OGG", subtype="OPUS")
    (folder / "listening.ogg").write_bytes(out.getvalue())
    (folder / "peaks.json").write_text(json.dumps(peaks(samples)))
    return folder


# ----- a static server: web/ at /ui/, the test pages at /pages/, the media at /media/ -----------


class Static(BaseHTTPRequestHandler):
    """GET with byte ranges (the <audio> element seeks by them, as in object storage), the
    services' security headers on every answer."""

    roots: dict[str, Path] = {}
    types = {
        ".js": "text/javascript",
        ".css": "text/css",
        ".html": "text/html",
        ".json": "application/json",
        ".ogg": "audio/ogg",
    }

    def file(self) -> Path | None:
        path = unquote(urlsplit(self.path).path)
        for prefix, folder in self.roots.items():
            if path.startswith(prefix):
                found = (folder / path.removeprefix(prefix)).resolve()
                return found if found.is_relative_to(folder) and found.is_file() else None
        return None

    def do_GET(self) -> None:
        found = self.file()
        if found is None:
            self.send_error(404)
            return
        data = found.read_bytes()
        first, last, status = 0, len(data) - 1, 200
        wanted = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", "").strip())
        if wanted and data:
            a, b = wanted.groups()
            first, last = (
                (len(data) - int(b), last)
                if a == ""
                else (int(a), min(last, int(b)) if b else last)
            )
            status = 206
        body = data[max(0, first) : last + 1]
        self.send_response(status)
        self.send_header("Content-Type", self.types.get(found.suffix, "application/octet-stream"))
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {max(0, first)}-{last}/{len(data)}")
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve(roots: dict[str, Path]) -> Iterator[str]:
    """A static server of `roots` (URL prefix: folder, the first that matches) on a free port."""
    handler = type("Site", (Static,), {"roots": {k: v.resolve() for k, v in roots.items()}})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def site(media: Path) -> Iterator[str]:
    """Every folder of web/ under /ui/, so the test page imports any module; the test pages."""
    with serve({"/ui/": WEB, "/pages/": PAGES, "/media/": media}) as url:
        yield url


@pytest.fixture(scope="module")
def label_site(media: Path) -> Iterator[str]:
    """As dispatch serves the labeling page (shared/web/pages.py)."""
    with serve({"/ui/common/": WEB / "common", "/ui/": WEB / "label", "/media/": media}) as url:
        yield url


@pytest.fixture(scope="module")
def review_site(media: Path) -> Iterator[str]:
    """As review serves the desk."""
    with serve({"/ui/common/": WEB / "common", "/ui/": WEB / "review", "/media/": media}) as url:
        yield url


async def open_page(chromium: Browser, url: str, token: str | None = None) -> Page:
    """A page at `url` (signed in with `token`), every page error, CSP violation and failed
    load of a file recorded in `page.errors` (the mocked API's answers are the test's)."""
    page = await chromium.new_page(viewport={"width": 1440, "height": 860})
    if token:
        signed_in = f"sessionStorage.setItem('aviary.token', {json.dumps(token)})"
        await page.add_init_script(f"if (location.protocol === 'http:') {signed_in}")
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: errors.append(f"dialog: {d.message}"))  # an XSS would show here
    # A CSP violation is a console error; a missing file is named by its answer (the console
    # only says "404").
    page.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on(
        "response",
        lambda r: (
            errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico") and "/api/" not in r.url
            else None
        ),
    )
    page.errors = errors  # type: ignore[attr-defined]
    await page.goto(url)
    return page


async def component_page(chromium: Browser, site: str) -> Page:
    page = await open_page(chromium, f"{site}/pages/waveform.html")
    await page.wait_for_function("() => window.pageReady === true")
    return page


def audio_view(site: str) -> dict[str, Any]:
    return {
        "url": f"{site}/media/listening.ogg",
        "peaks_url": f"{site}/media/peaks.json",
        "duration_s": DURATION_S,
        "start": PART[0],
        "end": PART[1],
        "part": 1,
        "parts": 2,
        "settings": SETTINGS,
    }


def label_task(site: str, proposed: list[dict[str, Any]]) -> dict[str, Any]:
    """A first-round audio task as the labeling page gets it, with detection's segments."""
    return {
        "audio": audio_view(site),
        "rework": 0,
        "comments": [],
        "instructions": GUIDELINES,
        "pre_transcript": {"segments": proposed},
        "previous_transcript": None,
    }


def vad(segment_id: str, start: float, end: float) -> dict[str, Any]:
    return {
        "segment_id": segment_id,
        "start": start,
        "end": end,
        "event": "speech",
        "text": "",
        "speaker": None,
        "language": None,
        "attributes": {},
    }


# ----- driving the waveform ----------------------------------------------------------------------


class Geometry:
    """Where times are on the screen: the waveform canvas's place and the time it shows."""

    def __init__(self, box: dict[str, float]) -> None:
        self.box = box

    def x(self, t: float) -> float:
        b = self.box
        return b["left"] + (t - b["start"]) / (b["end"] - b["start"]) * b["width"]

    @property
    def y(self) -> float:  # the middle of the waveform, under the 20 px ruler
        return self.box["top"] + 20 + (self.box["height"] - 20) / 2

    @property
    def span(self) -> float:
        return self.box["end"] - self.box["start"]


async def geometry(page: Page, name: str = "aviaryAudio") -> Geometry:
    box = await page.evaluate(
        f"""() => {{
            const w = window.{name}.player.waveform;
            const r = w.canvas.getBoundingClientRect();
            return {{left: r.left, top: r.top, width: r.width, height: r.height,
                     start: w.view.start, end: w.view.end}};
        }}"""
    )
    return Geometry(dict(box))


async def drag(page: Page, a: tuple[float, float], b: tuple[float, float]) -> None:
    await page.mouse.move(*a)
    await page.mouse.down()
    await page.mouse.move(*b, steps=8)
    await page.mouse.up()


async def segments(page: Page) -> list[dict[str, Any]]:
    return list(await page.evaluate("() => structuredClone(window.aviaryAudio.segments)"))


async def selected(page: Page) -> str | None:
    return await page.evaluate("() => window.aviaryAudio.selected")  # type: ignore[no-any-return]


async def listen(page: Page, timeout_s: float = 6.0) -> list[float]:
    """The <audio> element's time, every 30 ms, from when it plays to when it stops."""
    seen: list[float] = []
    deadline = time.monotonic() + timeout_s
    playing = False
    while time.monotonic() < deadline:
        t, paused = await page.evaluate(
            "() => [window.aviaryPlaying.currentTime, window.aviaryPlaying.paused]"
        )
        if not paused:
            playing = True
            seen.append(t)
        elif playing:
            seen.append(t)
            return seen
        await asyncio.sleep(0.03)
    raise AssertionError(f"playback did not stop in {timeout_s} s: {seen[-5:]}")


def close(a: float, b: float, tolerance: float = TIME_TOLERANCE_S) -> bool:
    return abs(a - b) <= tolerance


# ----- the tests ---------------------------------------------------------------------------------


async def test_the_geometry_functions_on_plain_data(
    browser: Browser,  # noqa: F811 - the fixture
    site: str,
) -> None:
    page = await component_page(browser, site)
    got = await page.evaluate(
        """async () => {
            const m = await import("/ui/common/waveview.js");
            const levels = [160, 640, 2560, 10240]
                .map((step) => ({ step, data: new Int8Array(0) }));
            const view = { start: 0, end: 4, width: 400 };
            const layout = { width: 400, height: 200, ruler: 20 };
            const two = [{ id: "a", start: 1, end: 2, event: "speech" },
                         { id: "b", start: 2, end: 3, event: "noise" }];
            const data = new Int8Array([-10, 20, -127, 127, 0, 5, -3, 3]);
            const peaks = { sampleRate: 4, duration: 4, levels: [{ step: 1, data }] };
            const zoomed = m.zoomView(view, 2, 1, { start: 0, end: 4 });
            const lanes = m.lanes([{ id: "a", start: 0, end: 2, event: "speech" },
                                   { id: "b", start: 1, end: 3, event: "speech" },
                                   { id: "c", start: 2, end: 4, event: "speech" }]);
            return {
                levels: [100, 700, 3000, 1e6].map((spp) => m.pickLevel(levels, spp)?.step),
                columns: [...m.columns(peaks, { start: 0, end: 1, width: 2 })]
                    .map((v) => Math.round(v * 127)),
                edgeTie: m.hitTest(two, null, view, layout, 200, 100),
                edgeSelected: m.hitTest(two, "b", view, layout, 199, 100),
                body: m.hitTest(two, null, view, layout, 150, 100),
                ruler: m.hitTest(two, null, view, layout, 150, 10),
                empty: m.hitTest(two, null, view, layout, 350, 100),
                lanes: [Object.fromEntries(lanes.lane), lanes.count],
                startPastEnd: m.moveEdge({ start: 1, end: 2 }, "start", 5, { start: 0, end: 4 }),
                endPastPart: m.moveEdge({ start: 1, end: 2 }, "end", 9, { start: 0, end: 4 }),
                zoomed: [zoomed.start, zoomed.end, m.timeToX(zoomed, 1)],
                tooClose: m.zoomView(view, 1000, 2, { start: 0, end: 4 }),
                ticks: m.ticks({ start: 59, end: 62, width: 300 }).map((t) => t.label),
                clock: [m.clock(3725.5), m.clock(61.257), m.clock(4.2, 1)],
            };
        }"""
    )
    assert got["levels"] == [160, 640, 2560, 10240]
    assert got["columns"] == [-127, 127, -3, 5]  # two pairs a column, min of mins, max of maxes
    assert got["edgeTie"] == {"kind": "edge", "id": "a", "side": "end"}
    assert got["edgeSelected"] == {"kind": "edge", "id": "b", "side": "start"}
    assert got["body"] == {"kind": "region", "id": "a"}
    assert got["ruler"] == {"kind": "ruler"}
    assert got["empty"] == {"kind": "empty"}
    assert got["lanes"] == [{"a": 0, "b": 1, "c": 0}, 2]
    assert got["startPastEnd"] == {"start": pytest.approx(1.98), "end": 2}
    assert got["endPastPart"] == {"start": 1, "end": 4}
    assert got["zoomed"] == pytest.approx([0.5, 2.5, 100])  # t=1 stays at x=100
    assert got["tooClose"]["end"] - got["tooClose"]["start"] == pytest.approx(0.25)
    assert got["ticks"] == ["0:59", "1:00", "1:01", "1:02"]
    assert got["clock"] == ["1:02:05.50", "1:01.26", "0:04.2"]
    assert page.errors == []  # type: ignore[attr-defined]
    await page.close()


async def test_mark_edit_split_delete_zoom_play_and_submit(
    browser: Browser,  # noqa: F811 - the fixture
    site: str,
) -> None:
    page = await component_page(browser, site)
    task = label_task(site, [vad("vad-1", 2.5, 4.0), vad("vad-2", 5.0, 6.5)])
    await page.evaluate("(task) => window.openLabel(task)", task)
    await page.wait_for_function("() => window.aviaryAudio.waveform.peaks !== null")
    assert await page.text_content("#instructions") == GUIDELINES  # text, never markup
    assert await page.locator(".segment-row").count() == 2
    g = await geometry(page)
    assert (g.box["start"], g.box["end"]) == PART  # the whole part in view

    # A segment drawn over the noise by dragging on empty waveform.
    await drag(page, (g.x(7.5), g.y), (g.x(9.0), g.y))
    drawn = (await segments(page))[2]
    assert close(drawn["start"], 7.5) and close(drawn["end"], 9.0), drawn
    assert await selected(page) == drawn["segment_id"]
    assert await page.locator(".segment-row.selected").count() == 1

    # Its end edge dragged on to 9.5 s.
    await drag(page, (g.x(drawn["end"]), g.y), (g.x(9.5), g.y))
    drawn = (await segments(page))[2]
    assert close(drawn["start"], 7.5) and close(drawn["end"], 9.5), drawn

    # Enter: into its transcript box; type; Escape: back to the waveform.
    await page.keyboard.press("Enter")
    assert await page.evaluate("() => document.activeElement.classList.contains('transcript')")
    await page.keyboard.type("a noise, then words")
    await page.keyboard.press("Escape")
    assert await page.evaluate("() => document.activeElement.classList.contains('waveform')")
    row = page.locator(f".segment-row[data-segment-id='{drawn['segment_id']}']")
    await row.locator("select[aria-label=event]").select_option("noise")
    await row.locator("select[aria-label=event]").select_option("speech")
    await row.locator("input[aria-label=speaker]").fill("Ann")
    await row.locator("input[aria-label=speaker]").press("Tab")
    await row.locator("select[aria-label=language]").select_option("en")
    await row.locator("select[aria-label=accent]").select_option("strong")

    # A click inside the first segment selects it and puts the cursor there; S splits it there.
    await page.mouse.click(g.x(3.2), g.y)
    assert await selected(page) == "vad-1"
    cursor = await page.evaluate("() => window.aviaryAudio.playback.time")
    assert close(cursor, 3.2)
    await page.keyboard.press("s")
    after = await segments(page)
    assert [s["segment_id"] for s in after][:2] == ["vad-1", "seg-4"]
    assert after[0]["end"] == after[1]["start"] == cursor and after[1]["end"] == 4.0

    # Tab to the split-off part, Delete removes it; Shift+Tab goes back.
    await page.keyboard.press("Tab")
    assert await selected(page) == "seg-4"
    await page.keyboard.press("Delete")
    assert [s["segment_id"] for s in await segments(page)] == ["vad-1", "vad-2", "seg-3"]
    assert await selected(page) == "vad-2"
    await page.keyboard.press("Shift+Tab")
    assert await selected(page) == "vad-1"

    # Zoom: + closer, - back out; Ctrl+wheel around the pointer; the wheel scrolls.
    await page.keyboard.press("+")
    closer = await geometry(page)
    assert closer.span == pytest.approx(g.span / 1.5)
    await page.keyboard.press("-")
    await page.keyboard.press("-")
    assert (await geometry(page)).span == pytest.approx(g.span)  # never wider than the part
    await page.mouse.move(g.x(6.0), g.y)
    await page.keyboard.down("Control")
    await page.mouse.wheel(0, -300)
    await page.keyboard.up("Control")
    wheeled = await geometry(page)
    assert wheeled.span < g.span and wheeled.box["start"] < 6.0 < wheeled.box["end"]
    await page.mouse.wheel(0, 200)
    scrolled = await geometry(page)
    assert scrolled.box["start"] > wheeled.box["start"]
    ruler = scrolled.box["top"] + 10
    await drag(page, (g.x(6.0), ruler), (g.x(6.0) + 100, ruler))  # the ruler pulled right
    panned = await geometry(page)
    assert panned.box["start"] == pytest.approx(
        scrolled.box["start"] - 100 * scrolled.span / scrolled.box["width"], abs=0.02
    )
    await page.click("button[title='The whole part']")

    # Double speed with ], the second segment played from its row: the time runs inside it and
    # stops at its end.
    for _ in range(3):
        await page.keyboard.press("]")
    assert await page.evaluate("() => window.aviaryAudio.playback.rate") == 2
    await page.evaluate("() => { window.aviaryPlaying = window.aviaryAudio.player.audio; }")
    await page.click(".segment-row[data-segment-id='vad-2'] button[title='Play this segment']")
    heard = await listen(page)
    assert await selected(page) == "vad-2"
    assert any(5.1 < t < 6.4 for t in heard[:-1]), heard  # it played inside the segment
    assert max(heard) <= 6.5 + 0.1, heard
    assert close(heard[-1], 6.5, 0.01), heard  # paused at the segment's end
    cursor = await page.evaluate("() => window.aviaryAudio.player.waveform.cursor")
    assert close(cursor, 6.5, 0.01)

    # L: the segment plays over and over (the time goes back to its start) until Space.
    await page.keyboard.press("l")
    assert await page.get_attribute("button[title='Loop (L)']", "aria-pressed") == "true"
    await page.click(".segment-row[data-segment-id='vad-2'] button[title='Play this segment']")
    await page.wait_for_function(
        """() => { const a = window.aviaryPlaying, w = window, before = w.lastHeard;
                   w.lastHeard = a.currentTime;
                   return !a.paused && before !== undefined && a.currentTime < before; }""",
        polling=30,
        timeout=5_000,
    )
    await page.keyboard.press("Space")
    assert await page.evaluate("() => window.aviaryPlaying.paused")
    assert 5.0 <= await page.evaluate("() => window.aviaryAudio.playback.time") <= 6.5
    await page.keyboard.press("l")

    # The transcript as the API takes it.
    sent = await page.evaluate("() => window.aviaryAudio.submission()")
    got = sent["segments"]
    assert [s["segment_id"] for s in got] == ["vad-1", "vad-2", "seg-3"]
    assert got[0]["start"] == 2.5 and close(got[0]["end"], 3.2)
    assert (got[1]["start"], got[1]["end"]) == (5.0, 6.5)
    assert close(got[2]["start"], 7.5) and close(got[2]["end"], 9.5)
    assert all(round(v, 3) == v for s in got for v in (s["start"], s["end"]))  # to the ms
    assert got[2] | {"start": 0, "end": 0} == {
        "segment_id": "seg-3",
        "start": 0,
        "end": 0,
        "event": "speech",
        "text": "a noise, then words",
        "speaker": "Ann",
        "language": "en",
        "attributes": {"accent": "strong", "overlapping": False},
    }
    assert got[1]["speaker"] is None and got[1]["attributes"] == {"overlapping": False}
    assert await page.evaluate("() => window.aviaryAudio.problems()") == []

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "waveform-component.png"))

    # One speaker's segments may not overlap: named before sending, on the segment.
    await page.evaluate(
        """() => { const s = window.aviaryAudio.segments;
                   s[0].speaker = "Ann"; s[0].end = 8.0; s[2].speaker = "Ann"; }"""
    )
    found = await page.evaluate("() => window.aviaryAudio.problems()")
    assert len(found) == 1 and "speaker “Ann” overlap" in found[0]["message"], found

    # M: the selected segment and the next one become one, their texts one after the other.
    await page.evaluate("() => window.aviaryAudio.select('vad-2')")
    await page.evaluate("() => document.activeElement.blur()")
    await page.keyboard.press("m")
    merged = await segments(page)
    assert [s["segment_id"] for s in merged] == ["vad-1", "vad-2"]
    assert merged[1]["start"] == 5.0 and close(merged[1]["end"], 9.5)
    assert merged[1]["text"] == "a noise, then words"
    assert page.errors == []  # type: ignore[attr-defined]
    await page.close()


async def test_the_desk_plays_a_clicked_segment_and_shows_a_versions_words(
    browser: Browser,  # noqa: F811 - the fixture
    site: str,
) -> None:
    page = await component_page(browser, site)
    agreed = [
        vad("a", 2.5, 4.0) | {"text": "turn the lights on", "speaker": "Ann"},
        vad("b", 5.0, 6.5) | {"text": "<b>thanks</b>", "speaker": "Bo"},
        vad("c", 7.5, 9.0) | {"event": "noise"},
    ]
    diff = [
        {"op": "equal", "ref": ["turn", "the"], "hyp": ["turn", "the"]},
        {"op": "substitute", "ref": ["lights"], "hyp": ["light"]},
        {"op": "equal", "ref": ["on"], "hyp": ["on"]},
        {"op": "insert", "ref": [], "hyp": ["please"]},
        {"op": "delete", "ref": ["<b>thanks</b>"], "hyp": []},
    ]
    unit = {
        "audio": audio_view(site),
        "transcript": {"segments": agreed},
        "overlaps": [{"annotator_id": "ann-1", "word_diff": diff}],
    }
    await page.evaluate("(unit) => window.openDesk(unit)", unit)
    await page.wait_for_function("() => window.aviaryDesk.player.waveform.peaks !== null")
    assert await page.locator("#desk-audio .segment-row").count() == 3
    assert await page.text_content("#desk-audio .segment-row[data-segment-id='b'] .said") == (
        "<b>thanks</b>"
    )

    # The word diff: equal words plain, the rest marked, everything as text.
    version = page.locator("#versions .version")
    assert await version.locator("del.diff-sub").text_content() == "lights"
    assert await version.locator("ins.diff-sub").text_content() == "light"
    assert await version.locator("ins.diff-ins").text_content() == "please"
    assert await version.locator("del.diff-del").text_content() == "<b>thanks</b>"
    assert await version.locator(".word-diff b").count() == 0
    assert "turn the" in (await version.locator(".word-diff").text_content() or "")

    # A click on a region selects it (what a rejection points at) and plays it to its end.
    await page.evaluate("() => { window.aviaryPlaying = window.aviaryDesk.player.audio; }")
    await page.evaluate("() => window.aviaryDesk.player.setSpeed(2)")
    g = await geometry(page, "aviaryDesk")
    await page.mouse.click(g.x(3.0), g.y)
    heard = await listen(page)
    assert await page.evaluate("() => window.aviaryDesk.selected") == "a"
    assert await page.evaluate("() => window.deskSelections.at(-1)") == "a"
    assert heard[0] < 2.8 and close(heard[-1], 4.0, 0.01), heard  # from its start to its end
    assert page.errors == []  # type: ignore[attr-defined]
    await page.close()


async def test_a_part_whose_recording_and_peaks_do_not_load_still_opens(
    browser: Browser,  # noqa: F811 - the fixture
    site: str,
) -> None:
    page = await component_page(browser, site)
    missing = {"url": f"{site}/media/gone.ogg", "peaks_url": f"{site}/media/gone.json"}
    task = {
        "audio": audio_view(site) | missing,
        "rework": 0,
        "instructions": "",
        "pre_transcript": {"segments": [vad("vad-1", 2.5, 4.0)]},
    }
    await page.evaluate("(task) => window.openLabel(task)", task)
    assert await page.locator(".segment-row").count() == 1
    await page.wait_for_selector(".toast.error >> text=waveform could not be loaded")
    await page.keyboard.press("Space")
    await page.wait_for_selector(".toast.error >> text=recording could not be loaded")
    assert await page.evaluate("() => window.aviaryAudio.playback.playing") is False
    assert sorted(page.errors) == [  # type: ignore[attr-defined]
        f"404 {site}/media/gone.json",
        f"404 {site}/media/gone.ogg",
    ]
    await page.close()


# ----- the pages themselves, their API mocked (until the services hand out audio) ---------------


def token(role: str) -> str:
    """A token of the pages' format: they read its claims; only the services check it."""
    claims = {"sub": f"{role}-1", "org": "acme", "role": role, "vendor": "v1", "exp": 4102444800}
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"e30.{payload}.signature"


class FakeApi:
    """The services as the page calls them, from `answers`: (method, path pattern) to a list
    of (status, body) given in turn (the last again when they run out); every call kept."""

    def __init__(self, site: str, answers: dict[tuple[str, str], list[tuple[int, Any]]]) -> None:
        self.site = site
        self.answers = answers
        self.calls: list[tuple[str, str, Any]] = []

    async def attach(self, page: Page) -> None:
        names = ("ingest", "dispatch", "review", "export")
        config = {"services": {n: f"{self.site}/api/{n}" for n in names}}
        await page.route(
            f"{self.site}/ui/config.json",
            lambda route: route.fulfill(json=config),
        )
        await page.route(f"{self.site}/api/**", self.answer)

    async def answer(self, route: Any) -> None:
        request = route.request
        path = urlsplit(request.url).path.removeprefix("/api")
        body = request.post_data_json if request.post_data else None
        self.calls.append((request.method, path, body))
        for (method, pattern), replies in self.answers.items():
            if method == request.method and re.fullmatch(pattern, path):
                status, reply = replies.pop(0) if len(replies) > 1 else replies[0]
                await route.fulfill(status=status, json=reply)
                return
        await route.fulfill(status=404, json={"error": {"code": "not_found", "message": path}})

    def bodies(self, method: str, pattern: str) -> list[Any]:
        return [b for m, p, b in self.calls if m == method and re.fullmatch(pattern, p)]


async def test_the_labeling_page_opens_an_audio_rework_and_submits_its_transcript(
    browser: Browser,  # noqa: F811 - the fixture
    label_site: str,
) -> None:
    previous = [
        vad("p-1", 2.5, 4.0) | {"text": "turn the lights on", "speaker": "A"},
        vad("p-2", 5.0, 6.5) | {"text": "thanks", "speaker": "B"},
    ]
    task = {
        "id": "task-1",
        "lease_id": "lease-1",
        "lease_expires_at": "2999-01-01T00:00:00Z",
        "project_id": "p",
        "item_id": "i",
        "ontology_version": 1,
        "classes": [],
        "instructions": GUIDELINES,
        "image": {"url": f"{label_site}/media/nothing.png", "width": 1600, "height": 200},
        "rework": 1,
        "comments": [
            {
                "reviewer_id": "r",
                "reason": "wrong words",
                "comment": "Listen again: <i>thanks a lot</i>.",
                "at": "2025-01-01T00:00:00Z",
                "segment_id": "p-2",
            }
        ],
        "piece_rate": 0.5,
        "audio": audio_view(label_site),
        "pre_transcript": {"segments": [vad("vad-1", 2.5, 4.0)]},
        "previous_transcript": {"segments": previous},
    }
    refused = {
        "error": {
            "code": "invalid_transcript",
            "message": "1 problem(s) in the transcript",
            "details": [
                {"segment": "p-2", "code": "unknown_speaker", "message": "no such speaker"}
            ],
        }
    }
    api = FakeApi(
        label_site,
        {
            ("POST", "/dispatch/v1/tasks/next"): [(200, task), (200, None)],
            ("POST", "/dispatch/v1/tasks/task-1/submit"): [
                (422, refused),
                (200, {"task_id": "task-1", "submission_id": "s-1"}),
            ],
            ("POST", "/dispatch/v1/tasks/task-1/heartbeat"): [(200, {"lease_id": "lease-1"})],
            ("GET", "/dispatch/v1/me/work"): [(200, {"worked_s": 60, "limit_s": 28800})],
            ("GET", "/review/v1/vendors/.*/statement"): [(200, {"completed": 1, "earnings": 1})],
            ("GET", "/review/v1/scores"): [(200, {"rows": []})],
        },
    )
    page = await open_page(browser, "about:blank", token("annotator"))
    await api.attach(page)
    await page.goto(f"{label_site}/ui/label.html")
    await page.click("#next")
    await page.wait_for_selector("#audio-workspace:not([hidden])")
    await page.wait_for_function("() => window.aviaryAudio.waveform.peaks !== null")

    # The audio mode instead of the image and its tools; the rework starts from what was sent.
    assert await page.is_hidden("#canvas") and await page.is_hidden("#image-tools")
    assert await page.is_visible("#audio-keys")
    assert await page.text_content("#instructions-title") == "Transcription guidelines"
    assert await page.text_content("#instructions") == GUIDELINES
    assert [s["segment_id"] for s in await segments(page)] == ["p-1", "p-2"]
    flagged = page.locator(".segment-row.flagged")
    assert await flagged.get_attribute("data-segment-id") == "p-2"
    assert "<i>thanks a lot</i>" in (await flagged.text_content() or "")
    assert f"segment 0:05.00{DASH}0:06.50" in (await page.text_content("#comments") or "")

    # Fixed in the text box; Ctrl+Enter submits from there. The server refuses a speaker: the
    # message names the segment, which is marked.
    box = page.locator(".segment-row[data-segment-id='p-2'] textarea")
    await box.fill("thanks a lot")
    await box.press("Control+Enter")
    await page.wait_for_selector(".segment-row.invalid[data-segment-id='p-2']")
    error = await page.text_content("#submit-error") or ""
    assert f"0:05.00{DASH}0:06.50: no such speaker" in error, error
    assert await page.locator(".toast.error").count() >= 1

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "label-audio.png"))

    # The speaker corrected, submitted: the transcript goes as the API takes it.
    await page.locator(".segment-row[data-segment-id='p-2'] input[aria-label=speaker]").fill("A2")
    await page.click("#submit")
    await page.wait_for_selector("#task-box[hidden]", state="attached")
    first, second = api.bodies("POST", "/dispatch/v1/tasks/task-1/submit")
    assert set(second) == {"lease_id", "transcript", "ontology_version"}
    assert second["lease_id"] == "lease-1"
    sent = second["transcript"]["segments"]
    assert [(s["segment_id"], s["start"], s["end"], s["speaker"]) for s in sent] == [
        ("p-1", 2.5, 4.0, "A"),
        ("p-2", 5.0, 6.5, "A2"),
    ]
    assert [s["text"] for s in sent] == ["turn the lights on", "thanks a lot"]
    assert first["transcript"]["segments"][1]["speaker"] == "B"
    assert await page.is_hidden("#audio-workspace")  # closed while the next task is looked for
    assert page.errors == []  # type: ignore[attr-defined]
    await page.close()


async def test_the_review_desk_rejects_a_segment_and_settles_a_dispute_with_a_version(
    browser: Browser,  # noqa: F811 - the fixture
    review_site: str,
) -> None:
    submitted = [
        vad("a", 2.5, 4.0) | {"text": "turn the lights on", "speaker": "A"},
        vad("b", 5.0, 6.5) | {"text": "thanks", "speaker": "B"},
    ]
    theirs = [vad("x", 2.5, 4.1) | {"text": "turn the light on please", "speaker": "A"}]
    unit: dict[str, Any] = {
        "id": "unit-1",
        "kind": "submission",
        "task_id": "task-1",
        "annotator_id": "ann-0",
        "annotation": {"shapes": []},
        "overlaps": [],
        "agreement": None,
        "classes": [],
        "reject_reasons": ["wrong words", "wrong times"],
        "image": {"url": f"{review_site}/media/nothing.png", "width": 1600, "height": 200},
        "rework": 0,
        "audio": audio_view(review_site),
        "transcript": {"segments": submitted},
    }
    dispute = unit | {
        "id": "dispute-1",
        "kind": "consensus",
        "agreement": 0.5,
        "transcript": {"segments": submitted[:1]},
        "overlaps": [
            {
                "submission_id": "s-1",
                "annotator_id": "ann-1",
                "annotation": {"shapes": []},
                "agreement": 0.5,
                "transcript": {"segments": theirs},
                "word_diff": [
                    {"op": "equal", "ref": ["turn", "the"], "hyp": ["turn", "the"]},
                    {"op": "substitute", "ref": ["lights"], "hyp": ["light"]},
                    {"op": "equal", "ref": ["on"], "hyp": ["on"]},
                    {"op": "insert", "ref": [], "hyp": ["please"]},
                ],
            }
        ],
    }
    api = FakeApi(
        review_site,
        {
            ("POST", "/review/v1/reviews/next"): [(200, unit), (200, dispute), (200, None)],
            ("POST", "/review/v1/reviews/unit-1/reject"): [
                (200, {"id": "unit-1", "status": "rejected"})
            ],
            ("POST", "/review/v1/reviews/dispute-1/correct"): [
                (200, {"id": "d", "status": "accepted"})
            ],
        },
    )
    page = await open_page(browser, "about:blank", token("reviewer"))
    await api.attach(page)
    await page.goto(f"{review_site}/ui/review.html")
    await page.click("#next-review")
    await page.wait_for_selector("#decide:not([hidden])")
    await page.wait_for_function("() => window.aviaryDesk.player.waveform.peaks !== null")
    assert await page.is_hidden("#canvas") and await page.is_hidden("#correct")
    assert await page.is_visible("#audio-reject")
    assert await page.locator("#desk-audio .segment-row").count() == 2

    # A click on the second segment: selected, named by the rejection.
    g = await geometry(page, "aviaryDesk")
    await page.mouse.click(g.x(5.5), g.y)
    assert await page.input_value("#reject-segment") == "b"
    await page.evaluate("() => window.aviaryDesk.player.playback.pause()")
    await page.select_option("#reason", "wrong words")
    await page.fill("#comment", "It is “thanks a lot”.")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "review-audio.png"))
    await page.click("#reject")
    await page.wait_for_selector("#decide[hidden]", state="attached")
    (rejection,) = api.bodies("POST", "/review/v1/reviews/unit-1/reject")
    assert rejection == {
        "reason": "wrong words",
        "comment": "It is “thanks a lot”.",
        "segment_id": "b",
    }

    # A dispute: the version's words against the agreed text; shown on the waveform; settled.
    await page.click("#next-review")
    await page.wait_for_selector("#overlaps-box:not([hidden])")
    version = page.locator("#overlaps .version")
    assert await version.locator("del.diff-sub").text_content() == "lights"
    assert await version.locator("ins.diff-ins").text_content() == "please"
    await version.get_by_text("Show", exact=True).click()
    assert await page.evaluate("() => window.aviaryDesk.segments.map((s) => s.segment_id)") == ["x"]
    await version.get_by_text("Settle with this version").click()
    await page.wait_for_selector("#decide[hidden]", state="attached")
    (settled,) = api.bodies("POST", "/review/v1/reviews/dispute-1/correct")
    assert settled == {"transcript": {"segments": theirs}}
    assert page.errors == []  # type: ignore[attr-defined]
    await page.close()


async def test_a_renewed_recording_url_is_taken_at_once_when_paused_else_at_the_next_pause(
    browser: Browser,  # noqa: F811 - the fixture
    site: str,
) -> None:
    """Media URLs live as long as the task's lease; each heartbeat hands out a new one."""
    page = await component_page(browser, site)
    await page.evaluate("(task) => window.openLabel(task)", label_task(site, []))
    src = "() => window.aviaryAudio.playback.audio.getAttribute('src')"
    first, second = f"{site}/media/listening.ogg?v=1", f"{site}/media/listening.ogg?v=2"
    await page.evaluate("(url) => window.aviaryAudio.playback.renew(url)", first)
    assert await page.evaluate(src) == first  # nothing plays: taken at once
    await page.evaluate("() => window.aviaryAudio.playback.setRate(2)")
    await page.evaluate("() => window.aviaryAudio.playback.play()")
    await page.evaluate("(url) => window.aviaryAudio.playback.renew(url)", second)
    assert await page.evaluate(src) == first  # playing: the sound goes on from the old URL
    await page.evaluate("() => window.aviaryAudio.playback.pause()")
    assert await page.evaluate(src) == second
    assert await page.evaluate("() => window.aviaryAudio.playback.rate") == 2  # kept
    await page.evaluate("() => window.aviaryAudio.playback.play()")  # plays from the new one
    await page.wait_for_function("() => window.aviaryAudio.playback.audio.currentTime > 2.5")
    assert page.errors == [], page.errors  # type: ignore[attr-defined]
