"""The main journey in a real browser against the embedded default (SQLite, filesystem
queue, local files, local engine) running as real processes."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import new_context, screenshot
from tests.photos import images

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_demo_account_uploads_restores_and_compares_on_the_embedded_default(browser: Browser, embedded):
    base, _, _ = embedded
    context = new_context(browser)
    page = context.new_page()
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Email").fill("demo@rekindle.local")
    page.get_by_label("Password").fill("rekindle-demo-photos")
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{base}/photos/new/")
    page.set_input_files(
        "#gallery-input", files=[{"name": "old.jpg", "mimeType": "image/jpeg", "buffer": images.jpeg()}]
    )
    page.get_by_role("button", name="Upload this photo").click()
    # Generous: a test machine under coverage may be slow; a hang still fails the test.
    page.wait_for_url(re.compile(r"/photos/\d+/$"), timeout=90_000)
    page.get_by_role("link", name="Restore, colourize or animate").click(timeout=60_000)
    page.get_by_role("button", name="Start").click()
    expect(page.get_by_role("heading", name="Done")).to_be_visible(timeout=90_000)
    expect(page.get_by_label("Compare before and after")).to_be_visible()
    expect(page.get_by_text("OpenCV")).to_have_count(0)  # no engine jargon on the result
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Restored — \d{1,2} \w{3}$"))
    screenshot(page, "embedded-result-1280")
    context.close()
