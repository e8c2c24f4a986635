"""Photos queued offline belong to the account whose page took them: someone else signing in on
the same device never uploads them into their own library; they wait for the right account or
are discarded."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from photos.models import Photo
from tests.browser.conftest import PHONE, new_context, screenshot, sign_up
from tests.photos import images

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-pass-phrase"


def _queue_offline_then_leave(browser: Browser, base_url: str) -> BrowserContext:
    """The first person takes a photo offline, then their session ends on this phone."""
    context = new_context(browser, viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    sign_up(page, base_url, "first@example.com", PASSWORD)
    page.goto(f"{base_url}/photos/new/")
    page.evaluate("async () => { await navigator.serviceWorker.ready; }")
    context.set_offline(True)
    page.set_input_files(
        "#camera-input", files=[{"name": "IMG_1.jpg", "mimeType": "image/jpeg", "buffer": images.jpeg()}]
    )
    page.get_by_role("button", name="Upload this photo").click()
    expect(page.get_by_text("IMG_1.jpg: Waiting to upload (offline)")).to_be_visible()
    page.close()
    context.clear_cookies()  # signed out (or the session expired) before the phone came back online
    context.set_offline(False)
    return context


def _second_person_opens_the_uploader(context: BrowserContext, base_url: str) -> Page:
    page = context.new_page()
    sign_up(page, base_url, "second@example.com", PASSWORD)
    page.goto(f"{base_url}/photos/new/")
    return page


def test_a_photo_queued_for_one_account_waits_for_it_and_never_lands_in_the_next_ones_library(
    browser: Browser, base_url
):
    context = _queue_offline_then_leave(browser, base_url)
    # when someone else signs in on the phone and opens the uploader, online
    page = _second_person_opens_the_uploader(context, base_url)
    # then they are told the photo waits for another account, and it is not in their library
    notice = page.get_by_text("1 photo waiting for another account on this device")
    expect(notice).to_be_visible()
    expect(page.get_by_role("list", name="Waiting to upload")).to_be_hidden()
    screenshot(page, "offline-other-account-360")
    page.wait_for_timeout(1500)  # room for the page's and the service worker's flush attempts
    assert not Photo.objects.filter(owner__email="second@example.com").exists()
    assert page.evaluate("async () => (await window.RekindleQueue.all()).length") == 1
    # when the first person signs in again on the phone
    context.clear_cookies()
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Email").fill("first@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{base_url}/photos/new/")
    # then the photo goes into their library
    expect(page.get_by_text(re.compile(r"IMG_1\.jpg: uploaded"))).to_be_visible(timeout=30_000)
    assert Photo.objects.filter(owner__email="first@example.com", original_name="IMG_1.jpg").count() == 1
    assert not Photo.objects.filter(owner__email="second@example.com").exists()
    context.close()


def test_the_next_person_can_discard_another_accounts_waiting_photos(browser: Browser, base_url):
    context = _queue_offline_then_leave(browser, base_url)
    page = _second_person_opens_the_uploader(context, base_url)
    expect(page.get_by_text("1 photo waiting for another account on this device")).to_be_visible()
    page.get_by_role("button", name="Discard them from this device").click()
    expect(page.get_by_text("waiting for another account")).to_be_hidden()
    assert page.evaluate("async () => (await window.RekindleQueue.all()).length") == 0
    assert not Photo.objects.exists()
    context.close()
