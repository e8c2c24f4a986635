"""Issue 14 in a real browser: what a new person sees in their first minutes. The result size
is said before spending and an unavailable kind is never charged (phone and desktop); the
"before" the pages show is the straightened upload, not the enhanced one; a share link's
preview card works until the link is revoked; the download is named after the photo."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from playwright.sync_api import Browser, expect
from skimage.metrics import structural_similarity

from accounts.models import User
from credits.selectors import credit_balance
from photos import imaging
from photos.models import Photo
from photos.services import photo_preprocess, photo_upload
from processing.models import Job
from tests.browser.conftest import DESKTOP, PHONE, new_context, screenshot, sign_up
from tests.browser.test_pages import _library_with_a_result
from tests.conftest import start_worker, stop_worker
from tests.photos import images

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(_redis_clean):
    proc = start_worker(name="first-ten")
    yield proc
    stop_worker(proc)


@pytest.mark.parametrize(("size", "viewport"), [("360", PHONE), ("1280", DESKTOP)])
def test_choice_page_says_the_size_and_an_unavailable_kind_charges_nothing(
    browser: Browser, base_url, size, viewport
):
    context = new_context(
        browser, viewport=viewport, is_mobile=viewport is PHONE, has_touch=viewport is PHONE
    )
    page = context.new_page()
    email = f"choose{size}@example.com"
    sign_up(page, base_url, email)
    user = User.objects.get(email=email)
    upload = SimpleUploadedFile("p.jpg", images.jpeg(images.photo((1600, 1200))), content_type="image/jpeg")
    photo = photo_preprocess(photo_id=photo_upload(user=user, file=upload, size=upload.size).pk)

    page.goto(f"{base_url}/jobs/new/{photo.pk}/")
    sizes = page.locator("#result-size")
    expect(sizes).to_be_visible()
    expect(sizes).to_contain_text("This photo comes back at 640 × 480 pixels on your Free plan.")
    expect(sizes).to_contain_text("Results are up to 854 × 480 on the Free plan; 1280 × 720 on paid plans.")
    restore = page.get_by_role("radio", name=re.compile(r"^Restore — 2 credits"))
    colour = page.get_by_role("radio", name=re.compile(r"^Restore \+ colourize — 4 credits"))
    expect(colour).to_be_disabled()
    # Clicking the unavailable option's words, or arrowing through the radios, never selects it.
    page.get_by_text("Restore + colourize — 4 credits").click(force=True)  # a real click at its place
    restore.focus()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    expect(colour).not_to_be_checked()
    expect(restore).to_be_checked()
    screenshot(page, f"choose-sizes-{size}")

    # Forced on in the page (as a tampered or stale form would send it): refused, nothing charged.
    colour.evaluate("(el) => { el.disabled = false; el.checked = true; }")
    page.get_by_role("button", name="Start").click()
    expect(page.get_by_role("alert")).to_contain_text("is not offered here, and nothing was charged")
    assert credit_balance(user=user) == 3
    assert not Job.objects.exists()
    assert page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth") <= 0
    context.close()


def test_the_before_shown_is_the_straightened_upload_not_the_enhanced_one(browser: Browser, base_url, worker):
    context = new_context(browser)
    page = context.new_page()
    sign_up(page, base_url, "before@example.com")
    corners = [(180, 90), (1010, 140), (960, 760), (150, 700)]
    # A faded, tinted print: enhancement visibly changes it, so a "before" that was enhanced fails.
    original = images.jpeg(images.photo_of_photo(images.faded_tinted_photo((800, 600)), (1200, 860), corners))
    page.goto(f"{base_url}/photos/new/")
    page.set_input_files(
        "#gallery-input", files=[{"name": "print.jpg", "mimeType": "image/jpeg", "buffer": original}]
    )
    expect(page.get_by_role("button", name="Use detected corners")).to_be_enabled()
    page.get_by_role("button", name="Use detected corners").click()
    page.get_by_role("button", name="Upload this photo").click()
    page.wait_for_url(re.compile(r"/photos/\d+/$"), timeout=30_000)
    # The worker prepares it; the photo page then shows the prepared picture.
    before = page.get_by_role("img", name="Your photo, straightened and prepared")
    expect(before).to_be_visible(timeout=30_000)
    photo = Photo.objects.get()
    assert photo.quad_source == "person"
    known = [(x / 1200, y / 860) for x, y in corners]
    assert np.abs(np.array(photo.quad) - np.array(known)).max() < 0.02  # the print's own corners

    response = page.request.get(f"{base_url}{before.get_attribute('src')}")
    assert response.ok
    shown = np.asarray(Image.open(io.BytesIO(response.body())).convert("RGB"))
    # The same file and corners through preparation alone, stored the same way (JPEG).
    prepared = imaging.prepare(io.BytesIO(original), quad=photo.quad).image
    expected = np.asarray(Image.open(io.BytesIO(imaging.encode_jpeg(prepared))).convert("RGB"))
    assert shown.shape == expected.shape
    assert structural_similarity(shown, expected, channel_axis=2, data_range=255) >= 0.99
    enhanced = imaging.enhance(expected)
    assert structural_similarity(shown, enhanced, channel_axis=2, data_range=255) < 0.95
    context.close()


def test_share_preview_tags_point_at_a_jpeg_that_is_gone_once_the_link_is_revoked(browser: Browser, base_url):
    context = new_context(browser, viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    sign_up(page, base_url, "card@example.com")
    _, job_id, token = _library_with_a_result("card@example.com")
    stranger = new_context(browser).new_page()
    stranger.goto(f"{base_url}/s/{token}/")
    og = stranger.locator('meta[property="og:image"]').get_attribute("content")
    twitter = stranger.locator('meta[name="twitter:image"]').get_attribute("content")
    assert og == twitter == f"{base_url}/s/{token}/preview.jpg"  # absolute: messengers need the host
    preview = stranger.request.get(og)
    assert preview.status == 200 and preview.headers["content-type"] == "image/jpeg"
    assert preview.body()[:3] == b"\xff\xd8\xff"

    page.goto(f"{base_url}/jobs/{job_id}/")
    page.get_by_role("button", name="Stop sharing").click()
    expect(page.get_by_role("button", name="Stop sharing")).to_have_count(0)
    assert stranger.request.get(og).status == 404
    stranger.context.close()
    context.close()


def test_download_is_named_after_the_photo(browser: Browser, base_url):
    context = new_context(browser)
    page = context.new_page()
    sign_up(page, base_url, "named@example.com")
    photo, job_id, _ = _library_with_a_result("named@example.com")
    Photo.objects.filter(pk=photo.pk).update(original_name="Grandma's wedding 1952.JPG")
    page.goto(f"{base_url}/jobs/{job_id}/")
    with page.expect_download() as info:
        page.get_by_role("link", name="Download").click()
    download = info.value
    assert download.suggested_filename == "grandmas-wedding-1952-restored.jpg"
    assert Path(download.path()).read_bytes()[:3] == b"\xff\xd8\xff"
    context.close()
