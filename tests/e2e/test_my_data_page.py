"""An annotator downloads everything the platform keeps about them from the labeling page
(Chromium): one JSON file with every service's records."""

from __future__ import annotations

import json

import pytest
from playwright.async_api import Browser

from aviary_devkit.processes import ServiceSet
from tests.e2e.test_workspaces import (
    browser,  # noqa: F401 - the fixture
    new_page,
)
from tests.support import Api, workspace

pytestmark = pytest.mark.e2e
BOX = {"class_id": 1, "bbox": [10, 10, 50, 40]}


async def test_an_annotator_downloads_their_data_from_the_labeling_page(
    services: ServiceSet,
    browser: Browser,  # noqa: F811 - the fixture
) -> None:
    api = Api(services)
    ws = workspace(api)
    annotator = ws.annotators[0]
    task = api.next_task(annotator).json()
    assert api.submit(annotator, task, [BOX]).status_code == 200
    page = await new_page(browser, f"{services.url('dispatch')}/ui/label.html", annotator)
    async with page.expect_download() as waiting:
        await page.get_by_role("button", name="My data").click()
    download = await waiting.value
    assert download.suggested_filename == "aviary-my-data-ann-0.json"
    data = json.loads((await download.path()).read_text())
    assert data["subject"] == "ann-0"
    assert set(data["services"]) == {"ingest", "dispatch", "review", "export", "assist"}
    kinds = [r["kind"] for r in data["services"]["dispatch"]["slot_records"]]
    assert sorted(kinds) == ["lease", "submitted"]
    assert data["services"]["review"]["submissions"][0]["task_id"] == task["id"]
    assert page.errors == [], page.errors  # type: ignore[attr-defined]
    await page.close()
    api.http.close()
