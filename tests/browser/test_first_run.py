"""The first run (issue 14): sign-up lands on adding a photo, "Add a photo" is in the main
navigation everywhere, and the new-photo page keeps its primary action within reach of the
thumb — a sticky bar under the tall picture and its preview — at 360 px and on a desktop."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import DESKTOP, PHONE, axe_violations, new_context, screenshot, sign_up
from tests.photos import images

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MAIN_PAGES = [("home", "/"), ("library", "/photos/"), ("new-photo", "/photos/new/"),
              ("credits", "/credits/"), ("account", "/accounts/")]  # fmt: skip


def in_viewport(page: Page, name: str) -> bool:
    """Whether the whole button is on the screen as it is now (nothing scrolled for it)."""
    box = page.get_by_role("button", name=name).bounding_box()
    height = page.evaluate("() => window.innerHeight")
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height


def test_sign_up_goes_straight_to_adding_a_photo(phone: Page, base_url):
    sign_up(phone, base_url, "first@example.com", confirm=False)

    assert phone.url == f"{base_url}/photos/new/"
    expect(phone.get_by_role("heading", name="Add a photo", level=1)).to_be_visible()
    welcome = phone.get_by_role("status").filter(has_text="Welcome to Rekindle!")
    expect(welcome).to_contain_text("Your account is ready. We sent a link to first@example.com")
    nav_link = phone.get_by_role("navigation", name="Main").get_by_role("link", name="Add a photo")
    expect(nav_link).to_have_attribute("aria-current", "page")
    assert axe_violations(phone) == []
    screenshot(phone, "first-run-360")


def test_add_a_photo_is_in_the_main_navigation_on_every_main_page(phone: Page, base_url):
    sign_up(phone, base_url, "nav@example.com")
    for name, path in MAIN_PAGES:
        phone.goto(f"{base_url}{path}")
        link = phone.get_by_role("navigation", name="Main").get_by_role("link", name="Add a photo")
        expect(link).to_be_visible()
        expect(link).to_have_attribute("href", "/photos/new/")
        if path != "/photos/new/":
            expect(link).not_to_have_attribute("aria-current", "page")
        overflow = phone.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} scrolls sideways by {overflow}px at 360px"
    # It takes the person there.
    phone.goto(f"{base_url}/credits/")
    phone.get_by_role("navigation", name="Main").get_by_role("link", name="Add a photo").click()
    phone.wait_for_url(f"{base_url}/photos/new/")


@pytest.mark.parametrize(("size", "viewport"), [("360", PHONE), ("1280", DESKTOP)])
def test_upload_button_stays_in_reach_below_the_pictures(browser: Browser, base_url, size, viewport):
    mobile = {"is_mobile": True, "has_touch": True} if viewport is PHONE else {}
    context = new_context(browser, viewport=viewport, bypass_csp=True, **mobile)
    page = context.new_page()
    sign_up(page, base_url, f"sticky-{size}@example.com", confirm=False)
    page.goto(f"{base_url}/photos/new/")
    # A tall portrait print: the picture alone is taller than the window, at both sizes.
    portrait = images.jpeg(images.photo((600, 1100)))
    page.set_input_files(
        "#gallery-input", files=[{"name": "portrait.jpg", "mimeType": "image/jpeg", "buffer": portrait}]
    )
    expect(page.locator(".crop-handle")).to_have_count(4)
    expect(page.locator("[data-crop-preview]")).to_be_visible()

    # Without the sticky bar the buttons would sit below the fold: the card ends off-screen.
    card_bottom = page.locator("[data-cropper]").evaluate("(el) => el.getBoundingClientRect().bottom")
    assert card_bottom > page.evaluate("() => window.innerHeight")
    # Yet the primary action is on the screen now, at the top of the page, and mid-way down.
    assert in_viewport(page, "Upload this photo")
    page.evaluate("() => window.scrollTo(0, 0)")
    assert in_viewport(page, "Upload this photo")
    page.evaluate("() => window.scrollBy(0, window.innerHeight / 2)")
    assert in_viewport(page, "Upload this photo")
    screenshot(page, f"new-photo-sticky-{size}")
    # One short row: the bar takes little of a phone's height.
    assert page.locator("[data-action-bar]").bounding_box()["height"] < 80

    # Keyboard order: the crop tools, then the primary action, then skipping the file.
    page.get_by_role("button", name="Reset corners").focus()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Upload this photo")).to_be_focused()
    assert in_viewport(page, "Upload this photo")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Skip this file")).to_be_focused()
    # The bar covers nothing for good: at the end of the page it sits below the preview.
    page.evaluate("() => window.scrollTo(0, document.documentElement.scrollHeight)")
    preview = page.locator("[data-crop-preview]").bounding_box()
    bar = page.locator("[data-action-bar]").bounding_box()
    assert bar["y"] >= preview["y"] + preview["height"]
    assert axe_violations(page) == []

    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/photos/\d+/$"), timeout=30_000)
    context.close()


def test_straighten_button_stays_in_reach_on_the_recrop_page_at_360px(phone: Page, base_url):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from accounts.models import User
    from photos.services import photo_preprocess, photo_upload

    sign_up(phone, base_url, "recrop@example.com", confirm=False)
    upload = SimpleUploadedFile("tall.jpg", images.jpeg(images.photo((600, 1100))), content_type="image/jpeg")
    user = User.objects.get(email="recrop@example.com")
    photo = photo_preprocess(photo_id=photo_upload(user=user, file=upload, size=upload.size).pk)

    phone.goto(f"{base_url}/photos/{photo.pk}/crop/")
    expect(phone.locator(".crop-handle")).to_have_count(4)
    card_bottom = phone.locator("[data-crop-page]").evaluate("(el) => el.getBoundingClientRect().bottom")
    assert card_bottom > phone.evaluate("() => window.innerHeight")
    assert in_viewport(phone, "Straighten")
    phone.get_by_role("button", name="Reset corners").focus()
    phone.keyboard.press("Tab")
    expect(phone.get_by_role("button", name="Straighten")).to_be_focused()
    assert in_viewport(phone, "Straighten")
    assert axe_violations(phone) == []
    screenshot(phone, "recrop-sticky-360")
    phone.get_by_role("button", name="Straighten").click()
    phone.wait_for_url(f"{base_url}/photos/{photo.pk}/")
    expect(phone.get_by_role("status").filter(has_text="The photo was straightened.")).to_be_visible()
