"""The labeling tool's audio mode and the review desk in a real browser, against the four
services as processes: a conversation spoken by espeak-ng is uploaded; the annotator's task
opens with the waveform drawn from the peaks in object storage and the segments voice-activity
detection proposed; a segment plays from the listening copy in SeaweedFS and stops at its end;
the annotator transcribes every segment (one carelessly) and submits; the desk plays the
careless segment, points the rejection at it and sends it back; the annotator sees which
segment and why, fixes it; the desk accepts; the NeMo delivery says what was spoken.

Screenshots go to var/screenshots/ (label-audio.png, review-audio.png, label-audio-rework.png).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

from playwright.async_api import Page
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from aviary.contracts.speech import Transcript
from aviary_devkit.media.speech import encode, render_recording
from aviary_devkit.processes import ServiceSet
from aviary_devkit.sim.speech_checks import normalize
from tests.e2e.test_waveform_component import Geometry, geometry, listen
from tests.e2e.test_workspaces import (
    browser,  # noqa: F401 - the fixture
    delivered_file,
    new_page,
    shot,
)
from tests.integration.test_audio_flow import audio_workspace, upload_recording
from tests.support import Api

RATE = 22_050
CARELESS = "something else entirely"
COMMENT = "Listen again: these are not the words."


async def open_audio_task(page: Page) -> None:
    """Press "Next task" until a task opens, then wait for its waveform's peaks."""
    deadline = time.monotonic() + 60
    while not await page.is_visible("#task-box"):
        assert time.monotonic() < deadline, "no task opened"
        # The button hides while the page waits for work (a long poll): click only when shown,
        # and briefly, so a click racing the page's own next call does not wait 30 s.
        if await page.is_visible("#next") and await page.is_enabled("#next"):
            with contextlib.suppress(PlaywrightTimeoutError):
                await page.click("#next", timeout=2_000)
        await asyncio.sleep(0.3)
    await page.wait_for_function("() => window.aviaryAudio.player.waveform.peaks !== null")


async def proposals(page: Page, name: str = "aviaryAudio") -> list[dict[str, Any]]:
    return list(await page.evaluate(f"() => structuredClone(window.{name}.segments)"))


def said_over(truth: Transcript, start: float, end: float) -> tuple[str, str | None]:
    """The words and speaker of the spoken segment that overlaps (start, end) most."""
    best = max(
        (s for s in truth.segments if s.event == "speech"),
        key=lambda s: min(end, s.end) - max(start, s.start),
    )
    return best.text, best.speaker


def delivered(api: Api, client_token: str, batch_id: str) -> list[dict[str, Any]]:
    lines = delivered_file(api, client_token, batch_id, "nemo/manifest.jsonl").decode()
    return [json.loads(line) for line in lines.splitlines()]


async def test_transcribe_reject_a_segment_fix_it_and_deliver_in_the_browser(
    services: ServiceSet,
    browser: Any,  # noqa: F811 - the fixture
) -> None:
    api = Api(services)
    ws = audio_workspace(
        api,
        annotators=1,
        review={"mode": "all"},
        audio={"max_part_s": 60, "vad": True, "languages": ["en"]},
        delivery_formats=["nemo"],
    )
    rec = render_recording(seed=11, speakers=2, utterances=3, sample_rate=RATE, noise_bursts=0)
    data = encode(rec.samples, RATE, "flac")
    assert upload_recording(api, ws.client.token, ws.batch_id, data, "hall.flac").status_code == 201
    api.ok("POST", "ingest", f"/v1/batches/{ws.batch_id}/seal", ws.client.token)

    # The task opens on the waveform, with what voice-activity detection proposed.
    label = await new_page(browser, f"{services.url('dispatch')}/ui/label.html", ws.annotators[0])
    await open_audio_task(label)
    assert await label.is_hidden("#canvas")
    found = await proposals(label)
    spoken = [s for s in rec.truth.segments if s.event == "speech"]
    assert len(found) == len(spoken), (found, spoken)

    # The first proposal plays from the listening copy in object storage and stops at its end.
    first = found[0]
    await label.evaluate("() => { window.aviaryPlaying = window.aviaryAudio.player.audio; }")
    await label.click(
        f".segment-row[data-segment-id='{first['segment_id']}'] button[title='Play this segment']"
    )
    heard = await listen(label, timeout_s=first["end"] - first["start"] + 5)
    assert any(first["start"] < t < first["end"] for t in heard[:-1]), heard
    assert abs(heard[-1] - first["end"]) <= 0.05, heard

    # Every segment transcribed with its speaker; the last one carelessly.
    careless = found[-1]["segment_id"]
    for seg in found:
        text, speaker = said_over(rec.truth, seg["start"], seg["end"])
        row = label.locator(f".segment-row[data-segment-id='{seg['segment_id']}']")
        await row.locator("textarea.transcript").fill(
            CARELESS if seg["segment_id"] == careless else text
        )
        await row.locator("input[aria-label=speaker]").fill(str(speaker))
        await row.locator("select[aria-label=language]").select_option("en")
    await shot(label, "label-audio")
    await label.click("#submit")
    await label.wait_for_selector("#task-box[hidden]", state="attached")

    # The desk: a click on the careless segment's region plays it and names it in the rejection.
    desk = await new_page(browser, f"{services.url('review')}/ui/review.html", ws.reviewer)
    await desk.click("#next-review")
    await desk.wait_for_selector("#audio-reject:not([hidden])", timeout=30_000)
    await desk.wait_for_function("() => window.aviaryDesk.player.waveform.peaks !== null")
    assert await desk.locator("#desk-audio .segment-row").count() == len(found)
    g: Geometry = await geometry(desk, "aviaryDesk")
    target = next(s for s in found if s["segment_id"] == careless)
    await desk.evaluate("() => { window.aviaryPlaying = window.aviaryDesk.player.audio; }")
    await desk.mouse.click(g.x((target["start"] + target["end"]) / 2), g.y)
    await listen(desk, timeout_s=target["end"] - target["start"] + 5)
    assert await desk.input_value("#reject-segment") == careless
    await desk.select_option("#reason", index=0)
    await desk.fill("#comment", COMMENT)
    await shot(desk, "review-audio")
    await desk.click("#reject")
    await desk.wait_for_selector("#decide[hidden]", state="attached")

    # The rework names the segment and the comment; the annotator fixes its words.
    await open_audio_task(label)
    comments = await label.text_content("#comments") or ""
    assert COMMENT in comments
    named = await label.evaluate(f"() => window.aviaryAudio.describe({careless!r})")
    assert named and named in comments, (named, comments)
    back = {s["segment_id"]: s for s in await proposals(label)}
    assert back[careless]["text"] == CARELESS  # the submitted transcript comes back
    right, _ = said_over(rec.truth, target["start"], target["end"])
    row = label.locator(f".segment-row[data-segment-id='{careless}']")
    await row.locator("textarea.transcript").fill(right)
    await shot(label, "label-audio-rework")
    await label.click("#submit")
    await label.wait_for_selector("#task-box[hidden]", state="attached")

    await desk.click("#next-review")
    await desk.wait_for_selector("#decide:not([hidden])", timeout=30_000)
    await desk.click("#accept")
    await desk.wait_for_selector("#decide[hidden]", state="attached")

    lines = delivered(api, ws.client.token, ws.batch_id)
    assert [normalize(line["text"]) for line in lines] == [normalize(s.text) for s in spoken]
    assert {line["speaker"] for line in lines} == {s.speaker for s in spoken}
    for page in (label, desk):
        assert page.errors == [], page.errors  # type: ignore[attr-defined]
        await page.close()
    api.http.close()
