"""Deleting on the dashboard in Chromium: the client deletes a batch (its name typed in the
dialog first), follows the deletion to its certificate, saves it (its digest checks out) and
the batch is gone from the table and the API; the Deletions table lists it with a CSV button.
The operator deletes the client's project the same way."""

from __future__ import annotations

import csv
import io
import json
import uuid
from pathlib import Path

import pytest
from playwright.async_api import Browser

from aviary.client import verify_certificate
from aviary_devkit.processes import ServiceSet
from services.ingest.deletions import certificate_digest
from tests.e2e.test_dashboard_pages import closed
from tests.e2e.test_workspaces import (
    browser,  # noqa: F401 - the fixture
    new_page,
    shot,
)
from tests.support import Api, jpeg, workspace

pytestmark = pytest.mark.e2e


async def test_the_client_deletes_a_batch_and_saves_its_certificate(
    services: ServiceSet,
    browser: Browser,  # noqa: F811 - the fixture
    api: Api,
) -> None:
    name = f"Harbour {uuid.uuid4().hex[:6]}"
    ws = workspace(api, images=1, name=name)
    token = ws.client.token
    path = f"/v1/projects/{ws.project['id']}/batches"
    batch = api.ok("POST", "ingest", path, token, json={"name": "week 49"})["id"]
    for seed in (7300, 7301):
        assert api.upload(ws.client, batch, jpeg(seed)).status_code == 201
    url = f"{services.url('export')}/ui/dashboard.html"

    page = await new_page(browser, url, token)
    row = page.locator("#projects tbody tr", has_text="week 49")
    await row.wait_for()
    await row.get_by_role("button", name="Delete batch week 49").click()
    dialog = page.locator("#delete-dialog")
    await dialog.wait_for()
    assert "Delete the batch week 49?" in (await dialog.text_content() or "")
    # Only the batch's own name, typed, lets the deletion go.
    await page.fill("#delete-name", "week 4")
    assert await page.is_disabled("#delete-confirm")
    await page.fill("#delete-name", "week 49")
    assert await page.is_enabled("#delete-confirm")
    await page.click("#delete-confirm")
    await dialog.wait_for(state="hidden")

    # Pending, then complete with its certificate; the batch's row is gone at once.
    await page.wait_for_function(
        "() => document.querySelector('#deletion-status button.certificate') !== null",
        timeout=30_000,
    )
    assert await page.locator("#projects tbody tr", has_text="week 49").count() == 0
    assert await page.locator("#projects tbody tr", has_text=name).count() == 1  # the other stays
    assert api.call("GET", "ingest", f"/v1/batches/{batch}", token).status_code == 404
    status = await page.text_content("#deletion-status") or ""
    assert status.startswith("The batch week 49 is deleted everywhere:"), status
    async with page.expect_download() as waiting:
        await page.get_by_role("button", name="Download the certificate").click()
    download = await waiting.value
    certificate = json.loads(Path(await download.path()).read_text())
    assert download.suggested_filename == f"aviary-deletion-{certificate['deletion_id']}.json"
    assert (certificate["scope"], certificate["target_id"]) == ("batch", batch)
    assert verify_certificate(certificate)
    assert certificate_digest(certificate) == certificate["digest"]
    assert len(certificate["content_sha256"]) == 2

    # The Deletions table: the batch by name (its id on hover), done, and as CSV.
    listed = page.locator(f"#deletions tbody tr[data-deletion='{certificate['deletion_id']}']")
    await page.wait_for_function(
        "() => [...document.querySelectorAll('#deletions tbody tr')]"
        ".some((r) => r.textContent.includes('complete'))"
    )
    cells = await listed.locator("td").all_text_contents()
    assert cells[:4] == ["batch", "week 49", "complete", "integration"]
    assert cells[5:7] == [str(certificate["records_removed"]), str(certificate["objects_removed"])]
    async with page.expect_download() as waiting:
        await page.click("button[aria-label='download deletions as CSV']")
    text = Path(await (await waiting.value).path()).read_text()
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0][:3] == ["scope", "target", "target id"]
    assert lines[1][:4] == ["batch", "week 49", batch, "complete"]
    await page.locator("#deletion-status").scroll_into_view_if_needed()
    await shot(page, "dashboard-deletion")
    await closed(page)

    # The operator deletes the client's project from its own view, named the same way.
    operator = await new_page(browser, url, api.operator)
    project_row = operator.locator("#projects tbody tr", has_text=name)
    await project_row.get_by_role("button", name=f"Delete project {name}").click()
    await operator.fill("#delete-name", name)
    await operator.click("#delete-confirm")
    await operator.wait_for_function(
        "() => document.querySelector('#deletion-status button.certificate') !== null",
        timeout=30_000,
    )
    assert await operator.locator("#projects tbody tr", has_text=name).count() == 0
    path = f"/v1/projects/{ws.project['id']}"
    assert api.call("GET", "ingest", path, token).status_code == 404
    kinds = await operator.locator("#deletions tbody tr td:first-child").all_text_contents()
    assert {"batch", "project"} <= set(kinds)
    await closed(operator)
