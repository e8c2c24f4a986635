"""The before/after viewer driven by real mouse and touch input (issue 14, items 7 and 2).

Mouse drags go through Playwright's mouse; touches through the DevTools protocol's
``Input.dispatchTouchEvent``, which Chromium handles as a real finger: its gesture detection
decides between a page scroll (touch-action) and pointer events for the page. The pages run
under the site's own Content Security Policy.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from playwright.sync_api import Browser, CDPSession, Page, expect

from photos.services import photo_preprocess, photo_upload
from processing import services
from processing.services import job_create, job_run
from tests.browser.conftest import DESKTOP, PHONE, new_context, screenshot
from tests.photos import images

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _result_page(browser: Browser, base_url: str, user: Any, size: tuple[int, int], **context: Any) -> Page:
    """A finished restore of a photo of the given size, open in a signed-in page."""
    upload = SimpleUploadedFile("p.jpg", images.jpeg(images.photo(size)), content_type="image/jpeg")
    photo = photo_preprocess(photo_id=photo_upload(user=user, file=upload, size=upload.size).pk)
    original = services.job_enqueue
    services.job_enqueue = lambda *, job, countdown=None: None
    try:
        job = job_create(user=user, photo_id=photo.pk, kind="restore")
    finally:
        services.job_enqueue = original
    job_run(job_id=job.pk)
    client = Client()
    client.force_login(user)
    ctx = new_context(browser, **context)  # no bypass_csp: the script runs under our policy
    ctx.add_cookies(
        [
            {
                "name": django_settings.SESSION_COOKIE_NAME,
                "value": client.cookies[django_settings.SESSION_COOKIE_NAME].value,
                "url": base_url,
            }
        ]
    )
    page = ctx.new_page()
    page.goto(f"{base_url}/jobs/{job.pk}/")
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-compare] img')]"
        ".every((i) => i.complete && i.naturalWidth)"
    )
    return page


def divider(page: Page) -> int:
    return int(page.get_by_label("Compare before and after").input_value())


def picture_box(page: Page) -> dict[str, float]:
    return page.locator("[data-compare-viewport]").bounding_box()


def transform(page: Page) -> str:
    return page.locator("[data-compare-stage]").evaluate("(el) => el.style.transform")


def at(box: dict[str, float], fx: float, fy: float = 0.5) -> tuple[float, float]:
    return box["x"] + box["width"] * fx, box["y"] + box["height"] * fy


def mouse_drag(page: Page, start: tuple[float, float], end: tuple[float, float]) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=8)
    page.mouse.up()


def touch_drag(
    cdp: CDPSession, start: tuple[float, float], end: tuple[float, float], steps: int = 10
) -> None:
    """One finger put down at start, moved in steps to end, lifted."""
    cdp.send(
        "Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": start[0], "y": start[1]}]}
    )
    for i in range(1, steps + 1):
        x = start[0] + (end[0] - start[0]) * i / steps
        y = start[1] + (end[1] - start[1]) * i / steps
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def assert_fits_the_screen(page: Page, viewport: dict[str, int]) -> None:
    """Picture, divider and controls are all on the screen at once."""
    viewer = page.locator("[data-compare]")
    viewer.evaluate("(el) => el.scrollIntoView({block: 'center'})")
    box = viewer.bounding_box()
    assert box["height"] <= viewport["height"]
    assert box["y"] >= 0 and box["y"] + box["height"] <= viewport["height"]
    handle = page.locator("[data-compare-handle]").bounding_box()
    assert box["y"] <= handle["y"] and handle["y"] + handle["height"] <= box["y"] + box["height"]


@pytest.mark.parametrize("size", [(640, 480), (480, 640)], ids=["landscape", "portrait"])
def test_desktop_shows_real_pixels_centred_and_fits_the_screen(browser: Browser, base_url, user, size):
    page = _result_page(browser, base_url, user, size, viewport=DESKTOP)
    after = page.get_by_role("img", name="After: the restored photo")
    natural = after.evaluate("(img) => [img.naturalWidth, img.naturalHeight]")
    assert tuple(natural) == size  # a free result this small keeps its size
    assert "{" not in page.locator("#job-status").inner_text()  # no template source leaks
    shown = after.bounding_box()
    # Never larger than its real pixels; here it fits, so exactly its real size.
    assert shown["width"] <= natural[0] and abs(shown["width"] - natural[0]) < 1
    before = page.get_by_role("img", name="Before: the photo as uploaded").bounding_box()
    assert before == shown
    # Centred in the card.
    outer = page.locator("[data-compare]").bounding_box()
    left = shown["x"] - outer["x"]
    right = outer["x"] + outer["width"] - shown["x"] - shown["width"]
    assert abs(left - right) <= 1
    assert_fits_the_screen(page, DESKTOP)
    screenshot(page, f"viewer-1280-{'x'.join(map(str, size))}")
    page.context.close()


def test_a_tall_picture_is_shrunk_to_the_screen_height_not_stretched(browser: Browser, base_url, user):
    page = _result_page(browser, base_url, user, (360, 1000), viewport={"width": 1280, "height": 600})
    after = page.get_by_role("img", name="After: the restored photo")
    natural = after.evaluate("(img) => [img.naturalWidth, img.naturalHeight]")
    shown = after.bounding_box()
    assert shown["height"] < natural[1]
    assert abs(shown["width"] / shown["height"] - natural[0] / natural[1]) < 0.01  # proportions kept
    assert_fits_the_screen(page, {"width": 1280, "height": 600})
    page.context.close()


def test_mouse_drags_on_the_picture_move_the_divider_and_pan_when_zoomed(browser: Browser, base_url, user):
    page = _result_page(browser, base_url, user, (640, 480), viewport=DESKTOP)
    assert page.locator("[data-compare] img").evaluate_all("(imgs) => imgs.map((i) => i.draggable)") == [
        False,
        False,
    ]
    assert divider(page) == 50
    page.locator("[data-compare]").scroll_into_view_if_needed()
    box = picture_box(page)
    mouse_drag(page, at(box, 0.5), at(box, 0.2))
    assert divider(page) == 20
    mouse_drag(page, at(box, 0.3), at(box, 0.85, 0.3))
    assert divider(page) == 85
    after = page.locator("[data-compare-after]")
    assert after.evaluate("(el) => el.style.clipPath") == "inset(0px 0px 0px 85%)"
    # A click puts the divider where it is.
    page.mouse.click(*at(box, 0.4))
    assert divider(page) == 40
    # The keyboard control still works.
    page.get_by_label("Compare before and after").focus()
    page.keyboard.press("ArrowRight")
    assert divider(page) == 41

    page.get_by_role("button", name="Zoom in").click()
    expect(page.get_by_text("Zoom 2×")).to_be_visible()
    assert picture_box(page) == box  # the frame stays; the picture grows inside it
    zoomed = transform(page)
    assert "scale(2)" in zoomed
    mouse_drag(page, at(box, 0.3, 0.3), at(box, 0.6, 0.7))  # drag the picture: it pans
    assert transform(page) != zoomed
    assert divider(page) == 41
    handle = page.locator("[data-compare-handle]").bounding_box()
    mouse_drag(page, at(handle, 0.5), at(box, 0.7, 0.5))  # drag the handle: the divider moves
    assert divider(page) == 70
    page.get_by_role("button", name="Reset zoom").click()
    assert transform(page) == ""
    expect(page.get_by_role("button", name="Zoom out")).to_be_disabled()
    page.context.close()


def test_touch_drags_move_the_divider_and_a_vertical_swipe_scrolls_the_page(browser: Browser, base_url, user):
    page = _result_page(browser, base_url, user, (480, 640), viewport=PHONE, is_mobile=True, has_touch=True)
    assert_fits_the_screen(page, PHONE)
    cdp = page.context.new_cdp_session(page)
    page.evaluate("() => window.scrollTo(0, 0)")
    page.locator("[data-compare]").scroll_into_view_if_needed()
    box = picture_box(page)
    touch_drag(cdp, at(box, 0.5), at(box, 0.15))
    assert divider(page) == 15
    touch_drag(cdp, at(box, 0.25, 0.4), at(box, 0.75, 0.45))
    assert divider(page) == 75

    # A vertical swipe on the picture scrolls the page and leaves the divider alone.
    scrolled = page.evaluate("() => window.scrollY")
    assert page.evaluate("() => document.documentElement.scrollHeight - window.innerHeight") > scrolled + 100
    touch_drag(cdp, at(box, 0.3, 0.8), at(box, 0.3, 0.2))
    page.wait_for_function(f"() => window.scrollY > {scrolled + 50}")
    assert divider(page) == 75

    # Zoomed in, one finger pans the picture; the divider moves only by its handle.
    page.get_by_role("button", name="Zoom in").click()
    page.locator("[data-compare]").scroll_into_view_if_needed()
    box = picture_box(page)
    zoomed = transform(page)
    touch_drag(cdp, at(box, 0.2, 0.3), at(box, 0.6, 0.6))
    assert transform(page) != zoomed
    assert divider(page) == 75
    handle = page.locator("[data-compare-handle]").bounding_box()
    touch_drag(cdp, at(handle, 0.5), at(box, 0.3, 0.5))
    assert divider(page) == 30
    screenshot(page, "viewer-360-zoomed")
    page.context.close()
