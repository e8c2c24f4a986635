"""QR hand-off with two browsers: the desktop signed in, the phone not."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from photos.models import HandoffSession, Photo
from tests.browser.conftest import PHONE, new_context, screenshot, sign_up
from tests.conftest import start_worker, stop_worker
from tests.photos import images

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_phone_uploads_into_the_desktop_library_and_the_desktop_sees_it_arrive(
    browser: Browser, base_url, _redis_clean
):
    desktop_ctx = new_context(browser)
    desktop = desktop_ctx.new_page()
    sign_up(desktop, base_url, "qr@example.com")
    desktop.goto(f"{base_url}/photos/new/")
    desktop.get_by_role("link", name="Use my phone's camera instead").click()
    expect(desktop.get_by_role("img", name="QR code for the link below")).to_be_visible()
    link = desktop.locator("[data-handoff-url]").get_attribute("href")
    screenshot(desktop, "handoff-1280")

    phone_ctx = new_context(browser, viewport=PHONE, is_mobile=True, has_touch=True)
    phone = phone_ctx.new_page()
    phone.goto(link)
    expect(phone.get_by_role("heading", name="Send photos to")).to_be_visible()
    worker = start_worker(name="handoff")
    try:
        phone.set_input_files(
            "#camera-input", files=[{"name": "IMG_1.jpg", "mimeType": "image/jpeg", "buffer": images.jpeg()}]
        )
        phone.get_by_role("button", name="Upload this photo").click()
        expect(phone.get_by_text("Sent to your computer")).to_be_visible(timeout=30_000)
        # The desktop page shows the arrival without a reload.
        expect(desktop.get_by_role("img", name="Photo from your phone")).to_be_visible(timeout=30_000)
    finally:
        stop_worker(worker)
    photo = Photo.objects.get()
    assert photo.owner.email == "qr@example.com" and photo.source == "handoff"
    screenshot(phone, "handoff-phone-360")

    # The phone is not signed in: the rest of the library stays closed to it.
    phone.goto(f"{base_url}/photos/")
    assert "/accounts/login/" in phone.url

    # A second phone cannot use the same link.
    other = new_context(browser, viewport=PHONE).new_page()
    other.goto(link)
    expect(other.get_by_text("already used on another phone")).to_be_visible()

    # Once expired, even the first phone is told so.
    HandoffSession.objects.update(expires_at="2000-01-01T00:00:00Z")
    phone.goto(link)
    expect(phone.get_by_text("This link has expired")).to_be_visible()
    for ctx in (desktop_ctx, phone_ctx):
        ctx.close()
