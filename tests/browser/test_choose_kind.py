"""The choice page's credit dead end in a real browser at 360 px: Start is disabled and says
why, how many credits are missing, when the next ones arrive and where to buy more."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from playwright.sync_api import Browser, expect

from accounts.models import User
from credits.selectors import credit_balance, next_grant_date
from photos.services import photo_preprocess, photo_upload
from processing import services
from processing.services import job_create
from tests.browser.conftest import PHONE, new_context, screenshot, sign_up
from tests.photos import images

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_no_affordable_kind_disables_start_and_explains_the_missing_credits(
    browser: Browser, base_url, monkeypatch
):
    context = new_context(browser, viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    sign_up(page, base_url, "deadend@example.com")
    user = User.objects.get(email="deadend@example.com")
    upload = SimpleUploadedFile("p.jpg", images.jpeg(), content_type="image/jpeg")
    photo = photo_preprocess(photo_id=photo_upload(user=user, file=upload, size=upload.size).pk)
    monkeypatch.setattr(services, "job_enqueue", lambda *, job, countdown=None: None)
    job_create(user=user, photo_id=photo.pk, kind="restore")  # 3 - 2: one credit left
    when = next_grant_date(user=user)

    page.goto(f"{base_url}/jobs/new/{photo.pk}/")
    start = page.get_by_role("button", name="Start")
    expect(start).to_be_disabled()
    expect(start).to_have_attribute("aria-disabled", "true")
    expect(start).to_have_accessible_description(
        re.compile(
            rf"You have 1 credit; Restore needs 2, so you are 1 credit short\..*"
            rf"Your 1 credit carries over: on {when.day} {when:%B} the Free plan adds 3, making 4\."
        )
    )
    expect(page.get_by_role("link", name="buy credits")).to_have_attribute("href", "/credits/")
    expect(page.get_by_text("Unknown kind")).to_have_count(0)
    assert page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth") <= 0
    screenshot(page, "choose-dead-end-360")
    assert credit_balance(user=user) == 1
    context.close()
