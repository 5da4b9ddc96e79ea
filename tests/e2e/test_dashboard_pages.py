"""The dashboard's management sections in Chromium. Flagged tasks: the client sees why people
skipped its task, with the picture, and drops the item (the batch is delivered without it, and
the audit log shows the drop); the operator returns another client's task to the pool, and an
annotator takes it. Work limits: a vendor admin sets a person's group and hours and sees only
their own people. People: a vendor admin invites a person (the token works), then revokes it
(refused at once). Gold: the client lists a project's gold and retires an item. Upload: the
client starts a batch, uploads pictures (a refusal listed with its reason, the same pictures
again kept once), imports by URL (a failure listed with its reason) and seals it. New
project: the client makes a project with classes, a skeleton and attributes (a refusal shown
first). Webhooks: sent again from the log."""

from __future__ import annotations

import csv
import io
import json
import time
import uuid
import zipfile
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page

from aviary_devkit.processes import ServiceSet
from tests.e2e.test_workspaces import (
    browser,  # noqa: F401 - the fixture
    new_page,
    shot,
)
from tests.integration.test_flagged_tasks import batch, flag_one, lease
from tests.integration.test_ingest_features import ImageServer
from tests.support import Api, Receiver, jpeg, review_next, workspace

pytestmark = pytest.mark.e2e


async def closed(page: Page) -> None:
    """The page showed no script error (an injected one would show here), then closes."""
    assert page.errors == [], page.errors  # type: ignore[attr-defined]
    await page.close()


async def test_the_client_drops_a_flagged_item_and_the_operator_returns_another(
    services: ServiceSet,
    browser: Browser,  # noqa: F811 - the fixture
    api: Api,
) -> None:
    ws = workspace(api, images=1, review={"mode": "auto"})
    api.ok("POST", "ingest", f"/v1/batches/{ws.batch_id}/seal", ws.client.token)
    flag_one(api, ws)
    url = f"{services.url('export')}/ui/dashboard.html"

    client = await new_page(browser, url, ws.client.token)
    row = client.locator("#flagged tbody tr")
    await row.wait_for()
    text = await row.text_content() or ""
    assert "unreadable image: “all black”" in text
    assert "test project" in text
    picture = row.locator("img.thumb")
    await client.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=await picture.element_handle()
    )
    await shot(client, "dashboard-flagged")

    await row.get_by_role("button", name="Drop item").click()  # no reason yet: refused here
    await client.get_by_text("Say why the item leaves the batch").wait_for()
    await row.get_by_label("reason for dropping").fill("the lens was covered")
    await row.get_by_role("button", name="Drop item").click()
    await client.get_by_text("Task dropped from its batch").wait_for()
    await client.locator("#flagged-none").wait_for(state="visible")

    done = api.wait_for(lambda: (b := batch(api, ws))["progress"]["delivered"] and b, timeout=30)
    assert done["progress"]["dropped"] == 1
    [delivery] = api.ok(
        "GET", "export", "/v1/deliveries", ws.client.token, params={"project_id": ws.project["id"]}
    )
    detail = api.ok("GET", "export", f"/v1/deliveries/{delivery['id']}", ws.client.token)
    package = zipfile.ZipFile(io.BytesIO(api.http.get(detail["download_url"]).content))
    [dropped] = json.loads(package.read("manifest.json"))["dropped"]
    assert dropped["reason"] == "the lens was covered"
    await client.reload()
    await client.get_by_text("1 dropped").wait_for()  # the batch's progress says so
    # The audit log: dispatch's entries of this client, filtered by action.
    await client.select_option("#audit-service", "dispatch")
    await client.fill("#audit-action", "item.dropped")
    await client.click("#audit-form button[type=submit]")
    entry = client.locator("#audit-log tbody tr")
    await entry.wait_for()
    assert await entry.count() == 1
    assert dropped["item_id"] in (await entry.text_content() or "")
    await shot(client, "dashboard-audit")

    # The operator sees every client's queue and puts a task back.
    other = workspace(api)
    other_task = flag_one(api, other)
    operator = await new_page(browser, url, api.operator)
    mine = operator.locator(f"#flagged tbody tr[data-task='{other_task}']")
    await mine.get_by_role("button", name="Return to pool").click()
    await operator.get_by_text("Task returned to the pool").wait_for()
    await mine.wait_for(state="detached")
    assert lease(api, other.annotators[1])["id"] == other_task

    for page in (client, operator):
        await closed(page)


async def test_a_vendor_admin_sets_a_work_limit_and_sees_only_their_people(
    services: ServiceSet,
    browser: Browser,  # noqa: F811 - the fixture
    api: Api,
) -> None:
    ws = workspace(api, images=0)
    boss = api.token(ws.vendor_id, "vendor_admin", "boss")
    other = api.org("vendor", "other")
    path = f"/v1/vendors/{other}/work-limits/annotators/theirs"
    api.ok("PUT", "dispatch", path, api.operator, json={"daily_hours": 2})
    page = await new_page(browser, f"{services.url('export')}/ui/dashboard.html", boss)
    await page.locator("#limits").wait_for()
    await page.fill("#limit-who", "ann-0")
    await page.fill("#limit-group", "intern")
    await page.fill("#limit-hours", "3")
    await page.click("#limit-form button[type=submit]")
    row = page.locator("#limit-people tbody tr")
    await row.wait_for()
    assert [await r.text_content() for r in await row.all()] == ["ann-0intern3"]
    limits = api.ok("GET", "dispatch", f"/v1/vendors/{ws.vendor_id}/work-limits", boss)
    assert limits["members"] == {"ann-0": "intern"} and limits["annotators"] == {"ann-0": 3.0}
    await shot(page, "dashboard-limits")
    await closed(page)


async def test_a_vendor_admin_sets_a_minimum_wage_and_sees_who_earns_less(
    services: ServiceSet,
    browser: Browser,  # noqa: F811 - the fixture
    api: Api,
) -> None:
    ws = workspace(api, images=1, review={"mode": "auto"}, piece_rate=0.05)
    task = api.next_task(ws.annotators[0]).json()
    time.sleep(0.6)  # 0.05 for 0.6 s of work: about 300 an hour
    assert (
        api.submit(ws.annotators[0], task, [{"class_id": 1, "bbox": [1, 1, 9, 9]}]).status_code
        == 200
    )
    boss = api.token(ws.vendor_id, "vendor_admin", "boss")
    statement = f"/v1/vendors/{ws.vendor_id}/annotators/ann-0/statement"
    api.wait_for(lambda: api.ok("GET", "review", statement, boss)["lines"])
    page = await new_page(browser, f"{services.url('export')}/ui/dashboard.html", boss)
    await page.get_by_text("No minimum set yet.").wait_for()
    await page.fill("#wage-hourly", "1000")
    await page.click("#wage-form button[type=submit]")
    await page.get_by_text("Minimum wage set to 1000 an hour").wait_for()
    await page.get_by_text("1 of 1 people earned less than 1000 an hour worked.").wait_for()
    row = page.locator("#fair-work tbody tr", has_text="ann-0")
    cells = await row.locator("td").all_text_contents()
    assert cells[:2] == ["ann-0", "1"] and 0 < float(cells[4]) < 1000
    # Time worked against the day's limit (dispatch's work days), once its clock is written.
    await page.wait_for_function(
        "() => /1 day; longest 0.0 h of 8.0 h; 0 breaks/.test(document.querySelector("
        "'#fair-work tbody tr td:nth-child(8)')?.textContent ?? '')",
        timeout=15_000,
    )
    assert await row.locator("td").nth(4).get_attribute("class") == "error"
    # The daily limit used, day by day (8 h the platform's: a second or so is under 1 %).
    use = await page.text_content("#limit-use") or ""
    assert use.startswith("Daily limit used: ") and "most 0" in use
    await page.locator("#limit-use-chart canvas").wait_for()
    # The chart: a bar for ann-0 and the minimum as a line, drawn.
    labels = await page.locator("#fair-work-chart .u-legend .u-label").all_text_contents()
    assert labels[-2:] == ["per hour worked", "minimum wage"]
    await page.locator("#fair-work").scroll_into_view_if_needed()
    await shot(page, "dashboard-fair-work")
    assert api.ok("GET", "review", f"/v1/vendors/{ws.vendor_id}/minimum-wage", boss) == {
        "hourly": 1000
    }
    await page.fill("#wage-hourly", "1")
    await page.click("#wage-form button[type=submit]")
    await page.get_by_text("Everyone earns at least 1 an hour worked.").wait_for()
    assert await page.locator("#fair-work td.error").count() == 0
    # The operator sees any vendor's card, the vendor chosen by name.
    operator = await new_page(browser, f"{services.url('export')}/ui/dashboard.html", api.operator)
    await operator.locator("#fair-vendor-box").wait_for()
    await operator.select_option("#fair-vendor", ws.vendor_id)
    # The first vendor's card may come first (its people may be called ann-0 too): wait for
    # this one's.
    await operator.wait_for_function("() => document.querySelector('#wage-hourly')?.value === '1'")
    await operator.locator("#fair-work tbody tr", has_text="ann-0").wait_for()
    await closed(operator)
    await closed(page)


async def invite(page: Page, name: str, role: str) -> str:
    """Invite a person on the dashboard; the token shown once."""
    await page.fill("#invite-name", name)
    await page.select_option("#invite-role", role)
    await page.click("#invite-form button[type=submit]")
    await page.locator("#invited").wait_for()
    return await page.input_value("#invited-token")


async def test_a_vendor_admin_invites_a_person_and_revokes_the_token(
    services: ServiceSet,
    browser: Browser,  # noqa: F811 - the fixture
    api: Api,
) -> None:
    ws = workspace(api, images=0)
    boss = api.token(ws.vendor_id, "vendor_admin", "boss")
    api.token(api.org("vendor", "other"), "annotator", "stranger")
    page = await new_page(browser, f"{services.url('export')}/ui/dashboard.html", boss)
    token = await invite(page, "ana", "annotator")
    assert await page.text_content("#invited-page") == f"{services.url('dispatch')}/ui/label.html"
    assert api.next_task(token, wait_s=0).status_code == 204  # the token works: no task yet
    row = page.locator("#tokens tbody tr", has_text="ana")
    await row.wait_for()
    await shot(page, "dashboard-people")
    await row.get_by_role("button", name="Revoke").click()
    await page.get_by_text("ana's token revoked").wait_for()
    await page.locator("#tokens tbody tr", has_text="revoked").wait_for()
    api.wait_for(lambda: api.next_task(token, wait_s=0).status_code == 401)
    listed = await page.text_content("#tokens") or ""
    assert "ann-0" in listed and "stranger" not in listed  # their own people only
    await closed(page)


async def test_the_operator_makes_organisations_and_invites_by_their_names(
    services: ServiceSet,
    browser: Browser,  # noqa: F811 - the fixture
    api: Api,
) -> None:
    name = f"Lark Labeling {uuid.uuid4().hex[:6]}"
    page = await new_page(browser, f"{services.url('export')}/ui/dashboard.html", api.operator)
    await page.fill("#org-name", name)
    await page.select_option("#org-kind", "vendor")
    await page.click("#org-form button[type=submit]")
    await page.get_by_text(f"{name} created").wait_for()
    row = page.locator("#org-list tbody tr", has_text=name)
    await row.wait_for()
    [vendor] = [o for o in api.ok("GET", "ingest", "/v1/orgs", api.operator) if o["name"] == name]
    assert (
        vendor["kind"] == "vendor"
        and await row.locator("td").first.get_attribute("title") == vendor["id"]
    )
    # Invite the vendor's admin, choosing the organisation by its name.
    await page.select_option("#invite-org", label=f"{name} (vendor)")
    token = await invite(page, "lark-boss", "vendor_admin")
    assert await page.text_content("#invited-page") == f"{services.url('export')}/ui/dashboard.html"
    me = api.ok("GET", "ingest", "/v1/me", token)
    assert (me["role"], me["org_name"], me["vendor_id"]) == ("vendor_admin", name, vendor["id"])
    await page.locator("#tokens tbody tr", has_text="lark-boss").filter(has_text=name).wait_for()
    # Refused: an empty name; nothing is made.
    count = len(api.ok("GET", "ingest", "/v1/orgs", api.operator))
    await page.fill("#org-name", " ")
    await page.click("#org-form button[type=submit]")
    await page.locator(".toast.error").wait_for()
    assert len(api.ok("GET", "ingest", "/v1/orgs", api.operator)) == count
    await shot(page, "dashboard-orgs")
    await closed(page)

    # A vendor admin invites only annotators and reviewers, into its own organisation.
    admin = await new_page(browser, f"{services.url('export')}/ui/dashboard.html", token)
    roles = await admin.locator("#invite-role option").all_text_contents()
    assert roles == ["annotator", "reviewer"] and await admin.is_hidden("#orgs")
    await closed(admin)


async def test_the_client_sees_its_gold_and_retires_an_item(
    services: ServiceSet,
    browser: Browser,  # noqa: F811 - the fixture
    api: Api,
) -> None:
    ws = workspace(api, review={"mode": "auto"})
    task = api.next_task(ws.annotators[0]).json()
    car = {"class_id": 1, "bbox": [10, 10, 50, 40]}
    assert api.submit(ws.annotators[0], task, [car]).status_code == 200
    path = f"/v1/projects/{ws.project['id']}/gold"
    body = {"item_id": task["item_id"], "annotation": {"shapes": [car]}}
    api.wait_for(
        lambda: api.call("POST", "review", path, ws.client.token, json=body).status_code == 201
    )
    page = await new_page(browser, f"{services.url('export')}/ui/dashboard.html", ws.client.token)
    await page.locator("#gold-project option", has_text="test project").wait_for(state="attached")
    await page.click("#gold-form button[type=submit]")
    row = page.locator("#gold tbody tr")
    await row.wait_for()
    assert "1 shapes" in (await row.text_content() or "")
    assert "in rotation" in (await row.text_content() or "")
    await row.get_by_role("button", name="Retire").click()
    await page.locator("#gold tbody tr", has_text="retired").wait_for()
    assert [g["active"] for g in api.ok("GET", "review", path, ws.client.token)] == [False]
    await shot(page, "dashboard-gold")
    await closed(page)


async def test_the_client_uploads_a_batch_sees_the_refusals_and_seals_it(
    services: ServiceSet,
    browser: Browser,  # noqa: F811 - the fixture
    tmp_path: Path,
    api: Api,
) -> None:
    ws = workspace(api, images=0)
    files = []
    for i in range(3):
        path = tmp_path / f"street-{i}.jpg"
        path.write_bytes(jpeg(7000 + i))
        files.append(path)
    (tmp_path / "notes.jpg").write_bytes(b"not a picture at all")
    files.append(tmp_path / "notes.jpg")
    page = await new_page(browser, f"{services.url('export')}/ui/dashboard.html", ws.client.token)
    await page.locator("#upload-project option", has_text="test project").wait_for(state="attached")
    await page.fill("#upload-batch-name", "week 49")
    await page.click("#upload-form button[type=submit]")
    await page.locator("#upload-box").wait_for()
    await page.set_input_files("#upload-files", [str(f) for f in files])
    count = page.locator("#upload-count")
    await page.wait_for_function(
        "() => document.getElementById('upload-count').textContent.startsWith('4 of 4')"
    )
    assert "3 new, 0 already there, 1 refused" in (await count.text_content() or "")
    refused = await page.text_content("#upload-refused") or ""
    assert refused.startswith("notes.jpg: ")
    # The same files again: nothing is added twice.
    await page.set_input_files("#upload-files", [str(f) for f in files[:3]])
    await page.wait_for_function(
        "() => document.getElementById('upload-count').textContent.startsWith('7 of 7')"
    )
    assert "3 new, 3 already there" in (await count.text_content() or "")
    # By URL: one picture fetched, one answer that is not a picture, listed with its reason.
    server = ImageServer()
    await page.click("#upload-box details summary")
    await page.fill("#import-urls", f"{server.url('/good.jpg')}\n{server.url('/text')}\n")
    await page.click("#import-go")
    status = page.locator("#import-status")
    await page.wait_for_function(
        "() => document.getElementById('import-status').textContent.endsWith('0 waiting')",
        timeout=60_000,
    )
    assert (await status.text_content() or "").startswith("1 of 2 fetched, 1 failed")
    failed = await page.text_content("#import-failed") or ""
    assert failed.startswith(server.url("/text") + ": not_an_image")
    await shot(page, "dashboard-upload")
    await page.click("#upload-seal")
    await page.get_by_text("Batch sealed with 4 items").wait_for()
    [sealed] = [
        b
        for b in api.ok(
            "GET", "ingest", f"/v1/projects/{ws.project['id']}/batches", ws.client.token
        )
        if b["name"] == "week 49"
    ]
    assert (sealed["status"], sealed["item_count"]) == ("sealed", 4)
    await closed(page)


async def test_the_client_sends_a_delivered_webhook_again(
    services: ServiceSet,
    browser: Browser,  # noqa: F811 - the fixture
    api: Api,
) -> None:
    receiver = Receiver()
    try:
        secret = "whsec-0123456789abcdef"
        ws = workspace(
            api, images=1, review={"mode": "auto"}, webhook_url=receiver.url, webhook_secret=secret
        )
        api.ok("POST", "ingest", f"/v1/batches/{ws.batch_id}/seal", ws.client.token)
        task = api.next_task(ws.annotators[0]).json()
        assert (
            api.submit(ws.annotators[0], task, [{"class_id": 1, "bbox": [1, 1, 9, 9]}]).status_code
            == 200
        )
        api.wait_for(lambda: len(receiver.received) == 1, timeout=30)
        url = f"{services.url('export')}/ui/dashboard.html"
        page = await new_page(browser, url, ws.client.token)
        row = page.locator("#webhooks tbody tr", has_text="delivered")
        await row.get_by_role("button", name="Send again").click()
        await page.get_by_text("The webhook is sent again").wait_for()
        api.wait_for(lambda: len(receiver.received) == 2, timeout=30)
        await closed(page)
    finally:
        receiver.close()


async def test_every_table_downloads_as_csv_and_events_per_second_show_at_once(
    services: ServiceSet,
    browser: Browser,  # noqa: F811 - the fixture
    api: Api,
) -> None:
    ws = workspace(api, images=1, name='Streets, "north" =1')
    page = await new_page(browser, f"{services.url('export')}/ui/dashboard.html", ws.client.token)
    await page.locator("#projects tbody tr", has_text="north").wait_for()
    async with page.expect_download() as waiting:
        await page.click("button[aria-label='download projects as CSV']")
    download = await waiting.value
    assert download.suggested_filename == "aviary-projects.csv"
    text = Path(await download.path()).read_text()
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0][:4] == ["project", "batch", "batch id", "items"]
    # The name as written (quoted where it must be; no formula), the batch's id beside its name.
    assert lines[1][0].startswith('Streets, "north" =1') and lines[1][2] == ws.batch_id
    assert lines[1][3] == "1"
    forms = await page.locator("#class-rows + button.csv").count()
    assert forms == 0  # the forms' editing tables have none
    await closed(page)

    operator = await new_page(browser, f"{services.url('export')}/ui/dashboard.html", api.operator)
    rate = operator.locator("#stages tbody tr").first.locator("td").nth(3)
    await operator.wait_for_function(
        "() => { const c = document.querySelector('#stages tbody tr td:nth-child(4)');"
        " return c && c.textContent !== '…' && !isNaN(parseFloat(c.textContent)); }",
        timeout=8000,
    )
    assert float(await rate.text_content() or "x") >= 0
    await closed(operator)


async def test_the_client_compares_its_vendors_on_a_scorecard(
    services: ServiceSet,
    browser: Browser,  # noqa: F811 - the fixture
    api: Api,
) -> None:
    client = api.client()
    good, poor = api.org("vendor", "Lark"), api.org("vendor", "Wren")
    shares = [{"vendor_id": good, "share": 0.5}, {"vendor_id": poor, "share": 0.5}]
    project = api.project(client, good, vendors=shares, name="Scored streets")
    batch = api.batch(client, project["id"])
    for i in range(4):
        assert api.upload(client, batch, jpeg(5100 + i)).status_code == 201
    car = [{"class_id": 1, "bbox": [1, 1, 20, 20]}]
    for vendor, decision in ((good, "accept"), (poor, "reject")):
        annotator = api.token(vendor, "annotator", "ann")
        task = api.next_task(annotator).json()
        assert api.submit(annotator, task, car).status_code == 200
        reviewer = api.token(vendor, "reviewer", "rev")
        unit = review_next(api, reviewer)
        why = {"reason": project["reject_reasons"][0], "comment": "loose"}
        body = why if decision == "reject" else None
        api.ok("POST", "review", f"/v1/reviews/{unit['id']}/{decision}", reviewer, json=body)
    page = await new_page(browser, f"{services.url('export')}/ui/dashboard.html", client.token)
    await page.locator("#scorecard-project option", has_text="Scored streets").wait_for(
        state="attached"
    )
    await page.select_option("#scorecard-project", label="Scored streets")
    await page.click("#scorecard-form button[type=submit]")
    rows = page.locator("#scorecard tbody tr")
    await page.wait_for_function(
        "() => document.querySelectorAll('#scorecard tbody tr').length === 2"
    )
    cells = [await rows.nth(i).locator("td").all_text_contents() for i in range(2)]
    assert [c[:3] for c in cells] == [["Lark", "1", "100 %"], ["Wren", "1", "0 %"]]
    assert await rows.nth(0).locator("td").first.get_attribute("title") == good
    # By day: a line a vendor, and the same in words.
    await page.locator("#scorecard-chart canvas").wait_for()
    legend = await page.locator("#scorecard-chart .u-legend .u-label").all_text_contents()
    assert legend[-2:] == ["Lark", "Wren"]  # as the table lists them, the best first
    daily = await page.text_content("#scorecard-daily") or ""
    assert daily.startswith("Accepted by day:") and "100 %" in daily and "0 %" in daily
    await page.select_option("#scorecard-measure", "time")
    await page.click("#scorecard-form button[type=submit]")
    await page.get_by_text("Time per task by day:").wait_for()
    assert await page.locator("#scorecard-chart canvas").count() == 1  # drawn again, once
    await shot(page, "dashboard-scorecard")
    await closed(page)
    # A vendor admin sees its own vendor's figures the same way, and no other's.
    admin = await new_page(
        browser,
        f"{services.url('export')}/ui/dashboard.html",
        api.token(poor, "vendor_admin", "boss"),
    )
    await admin.wait_for_function(
        "() => document.querySelectorAll('#scorecard tbody tr').length === 1"
    )
    assert await admin.locator("#scorecard tbody td").first.text_content() == "Wren"
    await closed(admin)


async def test_a_batch_burnup_is_drawn_with_its_forecast_and_said_in_words(
    services: ServiceSet,
    browser: Browser,  # noqa: F811 - the fixture
    api: Api,
) -> None:
    ws = workspace(api, images=3, review={"mode": "auto"}, deadline="2030-06-01T12:00:00Z")
    for annotator in ws.annotators:
        task = api.next_task(annotator).json()
        assert (
            api.submit(annotator, task, [{"class_id": 1, "bbox": [1, 1, 9, 9]}]).status_code == 200
        )
    path = f"/v1/batches/{ws.batch_id}/burnup"
    api.wait_for(lambda: api.ok("GET", "ingest", path, ws.client.token)["done"] == 2)
    page = await new_page(browser, f"{services.url('export')}/ui/dashboard.html", ws.client.token)
    await page.locator("#projects button", has_text="Burn-up").click()
    await page.locator("#burnup-chart canvas").wait_for()
    text = await page.text_content("#burnup-text") or ""
    assert text.startswith("2 of 3 items done (the batch is still open);"), text
    assert "an hour over the last hour" in text and "done by" in text and "due " in text
    # Two series (done, forecast) and the x axis, drawn on a canvas of the box's width.
    labels = await page.locator("#burnup-chart .u-legend .u-label").all_text_contents()
    assert labels[-2:] == ["done", "forecast"]
    width = await page.evaluate("document.querySelector('#burnup-chart canvas').width")
    assert width > 300
    async with page.expect_download() as waiting:
        await page.click("button[aria-label='download projects as CSV']")
    rows = list(csv.reader(io.StringIO(Path(await (await waiting.value).path()).read_text())))
    assert "2 accepted" in rows[1][rows[0].index("progress")]  # the button's word left out
    assert "Burn-up" not in "".join(rows[1])
    await shot(page, "dashboard-burnup")
    await closed(page)


async def test_the_operator_charts_every_service_minute_by_minute(
    services: ServiceSet,
    browser: Browser,  # noqa: F811 - the fixture
    api: Api,
) -> None:
    ws = workspace(api, images=2, review={"mode": "auto"})
    box = [{"class_id": 1, "bbox": [1, 1, 9, 9]}]
    for annotator in ws.annotators:
        assert api.submit(annotator, api.next_task(annotator).json(), box).status_code == 200
    api.wait_for(
        lambda: any(
            m["events"] for m in api.ok("GET", "review", "/v1/rollups", api.operator)["minutes"]
        )
    )
    page = await new_page(browser, f"{services.url('export')}/ui/dashboard.html", api.operator)
    await page.wait_for_function("() => document.querySelectorAll('#charts canvas').length === 7")
    stages = page.locator("#charts p[data-chart=stages]")
    await stages.filter(has_text="labeled").wait_for()
    assert "accepted" in (await stages.text_content() or "")
    said = page.locator("#charts p[data-chart=events]")
    await said.filter(has_text="review").wait_for()
    text = await said.text_content() or ""
    assert text.startswith("Last minute with figures:") and "peak" in text
    legends = page.locator("#charts .u-legend")
    stage_names = await legends.nth(0).locator(".u-label").all_text_contents()
    assert stage_names[-5:] == ["ingested", "labeled", "rejected", "accepted", "delivered"]
    services_named = await legends.nth(1).locator(".u-label").all_text_contents()
    assert services_named[-5:] == ["ingest", "dispatch", "review", "export", "assist"]
    await page.locator("#charts").scroll_into_view_if_needed()
    await shot(page, "dashboard-charts")
    await page.select_option("#range", "168")  # a week of minutes
    await page.wait_for_function("() => document.querySelectorAll('#charts canvas').length === 7")
    # A range of one's own: the last two hours, as the browser writes local times.
    await page.select_option("#range", "custom")
    local = (
        "(ago) => { const d = new Date(Date.now() - ago * 3600e3);"
        " d.setMinutes(d.getMinutes() - d.getTimezoneOffset());"
        " return d.toISOString().slice(0, 16); }"
    )
    await page.fill("#range-start", await page.evaluate(local, 2))
    await page.fill("#range-end", await page.evaluate(local, -0.1))
    await page.evaluate("document.querySelector('#charts').replaceChildren()")
    await page.click("#range-custom button")
    await page.wait_for_function("() => document.querySelectorAll('#charts canvas').length === 7")
    assert "labeled" in (await page.text_content("#charts p[data-chart=stages]") or "")
    await page.fill("#range-start", await page.evaluate(local, 24 * 9))  # before what is kept
    await page.click("#range-custom button")
    await page.get_by_text("Choose a start before the end, within the last 8 days.").wait_for()
    await closed(page)
    client = await new_page(browser, f"{services.url('export')}/ui/dashboard.html", ws.client.token)
    assert await client.is_hidden("#charts")  # the whole platform's: the operator's alone
    await closed(client)


async def test_the_client_creates_a_project_with_its_ontology(
    services: ServiceSet,
    browser: Browser,  # noqa: F811 - the fixture
    api: Api,
) -> None:
    client = api.client()
    vendor = api.org("vendor", "northwind")
    page = await new_page(browser, f"{services.url('export')}/ui/dashboard.html", client.token)
    await page.click("#new-project summary")
    await page.fill("#project-name", "Streets")
    # Refused without a vendor: the API's words under the button, nothing created.
    await page.locator("#class-rows input[aria-label='class name']").fill("car")
    await page.click("#project-form button[type=submit]")
    await page.locator("#project-error").filter(has_text="vendor").wait_for()
    assert api.ok("GET", "ingest", "/v1/projects", client.token) == []

    rows = page.locator("#class-rows tbody tr")
    await rows.nth(0).locator("input[aria-label=attributes]").fill("occluded:boolean")
    await rows.nth(0).locator("input[aria-label=colour]").fill("#ff3300")
    await page.click("#add-class")
    await rows.nth(1).locator("input[aria-label='class name']").fill("pedestrian")
    await rows.nth(1).locator("select[aria-label=kind]").select_option("keypoints")
    await rows.nth(1).locator("input[aria-label=keypoints]").fill("head, hip, foot")
    await page.click("#add-class")
    await rows.nth(2).locator("input[aria-label='class name']").fill("light")
    await rows.nth(2).locator("input[aria-label=attributes]").fill("colour:enum:red|amber|green")
    await page.select_option("#vendor-rows select[aria-label=vendor]", vendor)
    await page.fill("#vendor-rows input[aria-label='vendor piece rate']", "0.12")
    await page.fill("#project-rate", "0.04")
    await page.select_option("#project-review", "auto")
    await page.fill("#project-instructions", "Box every car. <b>not bold</b>")
    assert await page.text_content("#instructions-preview") == "Box every car. <b>not bold</b>"
    await shot(page, "dashboard-new-project")
    await page.click("#project-form button[type=submit]")
    await page.get_by_text("Project Streets created").wait_for()
    [project] = api.ok("GET", "ingest", "/v1/projects", client.token)
    classes = project["ontology"]["classes"]
    assert [(c["id"], c["name"], c["kind"]) for c in classes] == [
        (1, "car", "bbox"),
        (2, "pedestrian", "keypoints"),
        (3, "light", "bbox"),
    ]
    assert classes[0]["attributes"][0]["type"] == "boolean"
    # The colour chosen; the others as the pages' palette draws them by default.
    assert [c["colour"] for c in classes] == ["#ff3300", "#f72585", "#b5e48c"]
    assert classes[1]["skeleton"] == {
        "keypoints": ["head", "hip", "foot"],
        "edges": [[1, 2], [2, 3]],
    }
    assert classes[2]["attributes"][0]["options"] == ["red", "amber", "green"]
    assert project["vendors"] == [
        {"vendor_id": vendor, "share": 1.0, "piece_rate": 0.12, "training_rate": 0.0}
    ]
    assert project["vendor_names"] == {vendor: "northwind"}
    assert (project["review"]["mode"], project["piece_rate"]) == ("auto", 0.04)
    await page.locator("#upload-project option", has_text="Streets").wait_for(state="attached")

    # Edited (after the API made version 2) into version 3: the classes keep their ids, a new
    # one follows, what the form does not show (the delivery formats) stays, a second vendor
    # shares the work.
    second = api.org("vendor", "southwind")
    formats = ["coco", "yolo"]
    edited = {
        **{k: project[k] for k in ("name", "ontology", "vendors")},
        "delivery_formats": formats,
    }
    api.ok("PUT", "ingest", f"/v1/projects/{project['id']}", client.token, json=edited)
    await page.reload()
    await page.locator("#projects button", has_text="Edit").click()
    await page.locator("#project-submit", has_text="Save as version 3").wait_for()
    assert await page.input_value("#project-name") == "Streets"
    await page.click("#project-history summary")
    versions = await page.locator("#project-versions li").all_text_contents()
    assert len(versions) == 2 and versions[1].startswith("v1") and "created" in versions[1]
    assert "delivery formats coco → coco, yolo" in versions[0]
    assert await page.is_disabled("#project-media")
    assert await rows.count() == 3
    assert await rows.nth(2).locator("input[aria-label=attributes]").input_value() == (
        "colour:enum:red|amber|green"
    )
    await rows.nth(0).locator("input[aria-label='class name']").fill("vehicle")
    await rows.nth(1).locator("button", has_text="Remove").click()
    await page.click("#add-class")
    await rows.nth(2).locator("input[aria-label='class name']").fill("cyclist")
    await rows.nth(2).locator("input[aria-label=attributes]").fill("helmet*:boolean")
    await page.click("#add-vendor")
    vendors = page.locator("#vendor-rows tbody tr")
    await vendors.nth(0).locator("input[aria-label=share]").fill("0.75")
    await vendors.nth(1).locator("select[aria-label=vendor]").select_option(second)
    await page.select_option("#project-review", "sample")
    await page.fill("#project-review-rate", "0.25")
    await shot(page, "dashboard-edit-project")
    await page.click("#project-submit")
    await page.get_by_text("Project Streets saved as version 3").wait_for()
    now = api.ok("GET", "ingest", f"/v1/projects/{project['id']}", client.token)
    assert now["version"] == 3 and now["delivery_formats"] == formats
    assert [(c["id"], c["name"]) for c in now["ontology"]["classes"]] == [
        (1, "vehicle"),
        (3, "light"),
        (4, "cyclist"),
    ]
    assert now["ontology"]["classes"][2]["attributes"][0]["required"] is True
    assert [(v["vendor_id"], v["share"], v["piece_rate"]) for v in now["vendors"]] == [
        (vendor, 0.75, 0.12),
        (second, 0.25, None),
    ]
    assert (now["review"]["mode"], now["review"]["rate"]) == ("sample", 0.25)
    assert now["vendor_names"][second] == "southwind"
    assert await page.text_content("#project-submit") == "Create the project"
    await closed(page)
