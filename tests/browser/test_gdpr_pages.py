"""The GDPR pages in Chromium: accessible, fit 360 px, the export appears without a reload, and
deleting the account with the right password signs the person out with a goodbye."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from accounts import services
from accounts.models import DataExport, User
from accounts.services import data_export_build
from tests.browser.conftest import DESKTOP, PHONE, axe_violations, new_context, screenshot, sign_up

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize(("size", "viewport"), [("360", PHONE), ("1280", DESKTOP)])
def test_export_then_delete_in_the_browser(browser: Browser, base_url, size, viewport, monkeypatch):
    # The build runs here, not on a worker, so the test decides when it is ready.
    monkeypatch.setattr(services, "_data_export_enqueue", lambda *, export: None)
    context = new_context(browser, viewport=viewport, bypass_csp=True)
    page = context.new_page()
    email, password = f"gdpr{size}@example.com", "a-long-pass-phrase"
    sign_up(page, base_url, email, password)
    problems = {}

    page.goto(f"{base_url}/accounts/")
    page.get_by_role("button", name="Download my data").click()
    expect(page.get_by_text("Preparing your data")).to_be_visible()
    data_export_build(export_id=DataExport.objects.get(user__email=email).pk)
    # htmx polling swaps in the link without a reload
    expect(page.get_by_role("link", name="Download your data")).to_be_visible()

    for name, path in {"account-data": "/accounts/", "account-delete": "/accounts/delete/"}.items():
        page.goto(f"{base_url}{path}")
        violations = axe_violations(page)
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        if violations or overflow > 0:
            problems[name] = {"axe": violations, "overflow": overflow}
        screenshot(page, f"{name}-{size}")
    assert problems == {}

    expect(page.get_by_text("3 credits")).to_be_visible()
    page.get_by_label("Your password").fill("not-my-password")
    page.get_by_role("button", name="Delete my account for good").click()
    expect(page.get_by_role("alert")).to_contain_text("That password isn't right")
    assert User.objects.filter(email=email).exists()

    page.get_by_label("Your password").fill(password)
    page.get_by_role("button", name="Delete my account for good").click()
    page.wait_for_url(f"{base_url}/")
    expect(page.get_by_text("have been deleted")).to_be_visible()
    assert not User.objects.filter(email=email).exists()
    context.close()
