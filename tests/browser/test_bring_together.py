"""Bring together in Chromium: choosing two or three pictures by touch on a 360 px phone and with
the keyboard alone on a desktop, the setting and colour, the price and balance, then the new
picture's page with its inputs above it."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Browser, expect

from accounts.models import User
from credits.selectors import credit_balance
from credits.services import credits_grant
from processing import services
from processing.models import Job, JobStatus
from processing.services import job_create, job_run
from tests.browser.conftest import DESKTOP, PHONE, axe_violations, new_context, screenshot, sign_up
from tests.processing.test_together import GRACE, upload

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _library(user: User) -> list:
    from skimage import data

    photos = [
        upload(user, data.astronaut(), "astronaut.jpg"),
        upload(user, np.asarray(Image.open(GRACE).convert("RGB")), "grace.jpg"),
        upload(user, data.astronaut()[:, ::-1].copy(), "mirror.jpg"),
    ]
    credits_grant(user=user, amount=20, key=f"setup-{user.pk}", reason="setup")
    return photos


def _run_jobs_at_once(monkeypatch) -> None:
    """The queue is this test: a job runs on the local engine as soon as it is committed."""
    monkeypatch.setattr(services, "job_enqueue", lambda *, job, countdown=None: job_run(job_id=job.pk))


def test_choosing_by_touch_on_a_phone_then_the_new_picture_with_its_inputs(
    browser: Browser, base_url, monkeypatch
):
    _run_jobs_at_once(monkeypatch)
    context = new_context(browser, viewport=PHONE, is_mobile=True, has_touch=True, bypass_csp=True)
    page = context.new_page()
    sign_up(page, base_url, "together-phone@example.com")
    user = User.objects.get(email="together-phone@example.com")
    astronaut, grace, _ = _library(user)
    balance = credit_balance(user=user)

    page.goto(f"{base_url}/photos/")
    page.get_by_role("link", name="Bring together").tap()
    expect(page).to_have_url(f"{base_url}/jobs/together/")
    expect(page.get_by_text("not AI: it places your photos side by side")).to_be_visible()
    expect(page.locator("#together-price")).to_have_text(
        f"Bring together costs 6 credits. Your balance: {balance} credits."
    )
    grace_box = page.get_by_role("checkbox", name=re.compile(r"^grace\.jpg"))
    astronaut_box = page.get_by_role("checkbox", name=re.compile(r"^astronaut\.jpg"))
    # Tapping the picture (the label around the box) chooses it; the order is the tapping order.
    page.locator("label", has=grace_box).tap()
    expect(page.locator("[data-together-count]")).to_have_text("1 chosen: choose at least one more.")
    page.locator("label", has=astronaut_box).tap()
    expect(grace_box).to_be_checked()
    expect(astronaut_box).to_be_checked()
    expect(page.locator("label", has=grace_box)).to_contain_text("(picture 1)")
    expect(page.locator("label", has=astronaut_box)).to_contain_text("(picture 2)")
    expect(page.locator("[data-together-count]")).to_have_text("2 chosen: you can add one more.")
    page.get_by_label("At a family table").tap()
    page.get_by_label("Black and white").tap()
    assert page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth") <= 0
    assert axe_violations(page) == []
    screenshot(page, "together-choose-360")
    page.get_by_role("button", name="Start").tap()

    expect(page).to_have_url(re.compile(r"/jobs/\d+/$"))
    job = Job.objects.get(owner=user, kind="bring_together")
    assert [row.photo_id for row in job.inputs.all()] == [grace.pk, astronaut.pk]
    assert job.options == {"preset": "family_table", "colour": "black_and_white"}
    assert job.status == JobStatus.SUCCEEDED, job.error_message
    page.reload()
    inputs = page.locator("#job-inputs img")
    expect(inputs).to_have_count(2)
    expect(page.locator("#job-inputs")).to_contain_text("Picture 1")
    expect(page.locator("#job-result")).to_be_visible()
    expect(page.locator("[data-compare]")).to_have_count(0)
    expect(page.get_by_role("link", name="Download")).to_be_visible()
    expect(page.get_by_text("Not AI: places your photos side by side.")).to_be_visible()
    assert page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth") <= 0
    assert axe_violations(page) == []
    screenshot(page, "together-result-360")
    assert credit_balance(user=user) == balance - 6
    context.close()


def test_choosing_with_the_keyboard_alone_on_a_desktop_stops_at_three(
    browser: Browser, base_url, monkeypatch
):
    monkeypatch.setattr(services, "job_enqueue", lambda *, job, countdown=None: None)
    context = new_context(browser, viewport=DESKTOP, bypass_csp=True)
    page = context.new_page()
    sign_up(page, base_url, "together-keys@example.com")
    user = User.objects.get(email="together-keys@example.com")
    astronaut, grace, mirror = _library(user)
    restored = job_create(user=user, photo_id=astronaut.pk, kind="restore")
    job_run(job_id=restored.pk)

    page.goto(f"{base_url}/jobs/together/")
    boxes = page.get_by_role("checkbox")
    expect(boxes).to_have_count(4)  # three photos and the finished result
    page.locator("body").focus()
    # Tab to the first box (after the page's links), then through the boxes with Space.
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.name") == "pick":
            break
    order = []

    def choose() -> None:
        page.keyboard.press("Space")
        order.append(page.evaluate("() => document.activeElement.value"))

    # The second box first, then back to the first, then the third: the order is the person's.
    page.keyboard.press("Tab")
    choose()
    page.keyboard.press("Shift+Tab")
    choose()
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    choose()
    values = page.eval_on_selector_all("input[name=pick]", "boxes => boxes.map(box => box.value)")
    assert order == [values[1], values[0], values[2]]
    expect(page.get_by_role("checkbox", checked=True).nth(0)).to_have_accessible_name(
        re.compile(r"\(picture 2\)")
    )
    page.keyboard.press("Tab")
    # Three chosen: the fourth box is skipped (disabled) until one is unticked.
    expect(page.locator("[data-together-count]")).to_have_text(
        "3 chosen, the most: untick one to choose another."
    )
    expect(page.locator("input[name=pick]:disabled")).to_have_count(1)
    assert page.evaluate("() => document.activeElement.name") == "preset"
    page.keyboard.press("ArrowRight")  # radios move with the arrow keys
    expect(page.get_by_label("Sitting together on a sofa")).to_be_checked()
    page.keyboard.press("Tab")
    page.keyboard.type("in a garden in 1960")
    # Shift+Tab back to the third box and untick it: the fourth can be chosen again.
    page.get_by_role("checkbox").nth(2).focus()
    page.keyboard.press("Space")
    expect(page.locator("input[name=pick]:disabled")).to_have_count(0)
    page.keyboard.press("Space")
    page.get_by_role("button", name="Start").focus()
    page.keyboard.press("Enter")

    expect(page).to_have_url(re.compile(r"/jobs/\d+/$"))
    job = Job.objects.get(owner=user, kind="bring_together")
    chosen = {f"photo-{p.pk}": p.pk for p in (astronaut, grace, mirror)} | {
        f"result-{restored.pk}": astronaut.pk
    }
    assert [row.photo_id for row in job.inputs.all()] == [chosen[value] for value in order]
    assert job.options == {"preset": "sofa", "description": "in a garden in 1960", "colour": "colour"}
    expect(page.locator("#job-inputs img")).to_have_count(3)
    screenshot(page, "together-queued-desktop")
    context.close()
