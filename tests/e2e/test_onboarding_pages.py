"""Onboarding in Chromium (docs/onboarding.md): a new person finds the project's training on
the labeling page, draws the car as a person and is shown so beside the known answer with the
class's guideline, trains again right, takes the exam (no feedback, tasks one after the other)
and is admitted; production work follows. Their vendor admin sees it on the dashboard and
admits another person by hand with a reason. Screenshots go to var/screenshots/
(label-training-feedback.png, dashboard-onboarding.png)."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page

from aviary_devkit.processes import ServiceSet
from tests.e2e.test_dashboard_pages import closed
from tests.e2e.test_workspaces import (
    browser,  # noqa: F401 - the fixture
    drag,
    new_page,
    open_next_task,
    screen,
    shot,
    view,
)
from tests.integration.test_onboarding_flow import SEEDS, seeded_with_gold
from tests.support import Api, jpeg

pytestmark = pytest.mark.e2e

CAR_ON_SCREEN = ((40, 40), (160, 120))  # the gold answer's box, corner to corner


async def draw_car(page: Page, key: str) -> None:
    """The answer's box, drawn as the class under `key` (1: car, 2: person)."""
    await page.wait_for_function("() => window.aviaryCanvas.image !== null")
    v = await view(page)
    await page.keyboard.press(key)
    (x0, y0), (x1, y1) = CAR_ON_SCREEN
    await drag(page, screen(v, x0, y0), screen(v, x1, y1))


async def task_opened(page: Page, meta: str) -> None:
    await page.wait_for_function(
        "(m) => !document.querySelector('#task-box').hidden"
        " && document.querySelector('#task-meta').textContent.startsWith(m)",
        arg=meta,
        timeout=30_000,
    )


async def test_training_feedback_exam_and_admission_on_the_pages(
    services: ServiceSet,
    browser: Browser,  # noqa: F811 - the fixture
    api: Api,
) -> None:
    ws, admin = seeded_with_gold(api)
    project_id = ws.project["id"]
    label_url = f"{services.url('dispatch')}/ui/label.html"
    page = await new_page(browser, label_url, ws.annotators[0])

    # The project asks for training: the box says so before anything was done.
    standing = page.locator(f"#training .standing[data-project='{project_id}']")
    await standing.wait_for()
    assert "training: 0 of 2 done" in (await standing.text_content() or "")
    await standing.get_by_role("button", name="Train").click()
    await task_opened(page, "training 1 of 2")
    assert not await page.is_visible("#skip")  # a chosen item with a known answer

    # The car drawn as a person: told so, beside the answer, with the guideline.
    await draw_car(page, "2")
    await page.click("#submit")
    dialog = page.locator("#feedback-dialog")
    await dialog.wait_for(timeout=30_000)
    verdict = page.locator("#feedback-shapes li")
    assert await verdict.get_attribute("data-verdict") == "wrong_class"
    said = await verdict.text_content() or ""
    assert "drawn as person, the answer says car" in said
    assert "Box every car, mirrors included." in said
    assert (await page.text_content("#feedback-score") or "").startswith("0 % · 0 right, 1 wrong")
    assert await page.is_visible("#feedback-answer")
    await page.wait_for_timeout(300)  # both pictures drawn
    await shot(page, "label-training-feedback")

    # The next training task from the dialog, drawn right.
    await page.click("#feedback-next")
    await task_opened(page, "training 2 of 2")
    await draw_car(page, "1")
    await page.click("#submit")
    await dialog.wait_for(timeout=30_000)
    assert await page.get_attribute("#feedback-shapes li", "data-verdict") == "right"
    await page.click("#feedback-dialog button[value=close]")

    # The exam: no feedback, one task after the other, then the decision in the box.
    await page.wait_for_function(
        "(p) => (document.querySelector(`#training .standing[data-project='${p}']`)"
        "?.dataset.stage) === 'exam'",
        arg=project_id,
        timeout=30_000,
    )
    await standing.get_by_role("button", name="Take the exam").click()
    for n in (1, 2):
        await task_opened(page, f"exam {n} of 2")
        await draw_car(page, "1")
        await page.click("#submit")
    assert not await dialog.is_visible()
    await page.wait_for_function(
        "(p) => (document.querySelector(`#training .standing[data-project='${p}']`)"
        "?.dataset.stage) === 'admitted'",
        arg=project_id,
        timeout=40_000,
    )
    assert "admitted by the exam" in (await standing.text_content() or "")
    assert "skill" in (await standing.text_content() or "")

    # Production work is theirs now.
    assert api.upload(ws.client, ws.batch_id, jpeg(SEEDS - 2)).status_code == 201
    await open_next_task(page)
    assert "training" not in (await page.text_content("#task-meta") or "")
    assert await page.is_visible("#skip")
    assert page.errors == []  # type: ignore[attr-defined]
    await closed(page)

    # The vendor admin's dashboard: who trained and passed, and an admission by hand.
    dashboard = await new_page(browser, f"{services.url('export')}/ui/dashboard.html", admin)
    rows = dashboard.locator("#onboarding-people tbody tr")
    await dashboard.locator("#onboarding-people tbody tr[data-annotator='ann-0']").wait_for()
    passed = await dashboard.locator("tr[data-annotator='ann-0'] td").all_text_contents()
    assert passed[:3] == ["ann-0", "admitted", "2 of 2"]
    assert passed[3].startswith("100 % passed") and passed[4].startswith("yes, by the exam")
    veteran = await dashboard.locator("tr[data-annotator='ann-1'] td").all_text_contents()
    assert veteran[4] == "yes, by leadlabels for us since 2024"
    await dashboard.fill("#admit-who", "ann-2")
    await dashboard.fill("#admit-reason", "trained at our office")
    await dashboard.click("#admit-form button[value=admit]")
    await dashboard.locator("tr[data-annotator='ann-2']").wait_for()
    assert await rows.count() == 3
    hand = await dashboard.locator("tr[data-annotator='ann-2'] td").all_text_contents()
    assert hand[4] == "yes, by leadtrained at our office"
    choice = await dashboard.text_content("#onboarding-project") or ""
    assert "(3 of 3 admitted)" in choice
    await dashboard.locator("#onboarding").scroll_into_view_if_needed()
    await shot(dashboard, "dashboard-onboarding")
    await closed(dashboard)
    # ann-2 takes production work without training.
    assert api.upload(ws.client, ws.batch_id, jpeg(SEEDS - 3)).status_code == 201
    got = api.next_task(ws.annotators[2], wait_s=5)
    assert got.status_code == 200 and got.json()["stage"] == "production"
