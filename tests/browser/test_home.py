"""The home page on a 360 px phone: examples load and fit, no serious axe violations."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import axe_violations, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_home_examples_load_and_fit_a_360px_phone(phone: Page, base_url):
    phone.goto(f"{base_url}/")
    expect(phone.get_by_role("heading", name="Before and after")).to_be_visible()
    pictures = phone.locator("#examples ~ div img")
    expect(pictures).to_have_count(6)
    for index in range(6):
        picture = pictures.nth(index)
        picture.scroll_into_view_if_needed()
        expect(picture).to_have_js_property("complete", True)
        assert picture.evaluate("(img) => img.naturalWidth") > 0
        box = picture.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 360
    overflow = phone.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    assert axe_violations(phone) == []
    screenshot(phone, "home-360")
