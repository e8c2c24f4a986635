"""Every main page: no serious accessibility violations, fits 360 px, screenshots for review;
the library deletes; photos captured offline upload once the connection is back."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from playwright.sync_api import Browser, expect

from accounts.models import User
from photos.models import Photo
from photos.services import photo_preprocess, photo_upload
from processing import services
from processing.services import job_create, job_run
from processing.sharing import share_create
from tests.browser.conftest import DESKTOP, PHONE, axe_violations, new_context, screenshot, sign_up
from tests.photos import images

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _library_with_a_result(email: str) -> tuple[Photo, int, str]:
    user = User.objects.get(email=email)
    upload = SimpleUploadedFile("p.jpg", images.jpeg(), content_type="image/jpeg")
    photo = photo_preprocess(photo_id=photo_upload(user=user, file=upload, size=upload.size).pk)
    original = services.job_enqueue
    services.job_enqueue = lambda *, job, countdown=None: None
    try:
        job = job_create(user=user, photo_id=photo.pk, kind="restore")
    finally:
        services.job_enqueue = original
    job_run(job_id=job.pk)
    return photo, job.pk, share_create(user=user, job_id=job.pk).token


@pytest.mark.parametrize(("size", "viewport"), [("360", PHONE), ("1280", DESKTOP)])
def test_signed_in_pages_are_accessible_fit_the_screen_and_are_captured(
    browser: Browser, base_url, size, viewport
):
    context = new_context(browser, viewport=viewport, bypass_csp=True)
    page = context.new_page()
    email = f"pages{size}@example.com"
    sign_up(page, base_url, email)
    photo, job_id, token = _library_with_a_result(email)
    pages = {
        "library": "/photos/",
        "new-photo": "/photos/new/",
        "photo": f"/photos/{photo.pk}/",
        "choose": f"/jobs/new/{photo.pk}/",
        "result": f"/jobs/{job_id}/",
        "credits": "/credits/",
        "account": "/accounts/",
        "handoff": "/photos/handoff/",
        "shared": f"/s/{token}/",
    }
    problems = {}
    for name, path in pages.items():
        page.goto(f"{base_url}{path}")
        violations = axe_violations(page)
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        if violations or overflow > 0:
            problems[name] = {"axe": violations, "overflow": overflow}
        screenshot(page, f"{name}-{size}")
    assert problems == {}
    context.close()


def test_library_lists_newest_first_and_deletes_with_files(browser: Browser, base_url, _isolated_media):
    context = new_context(browser)
    page = context.new_page()
    sign_up(page, base_url, "lib@example.com")
    photo, _, _ = _library_with_a_result("lib@example.com")
    page.goto(f"{base_url}/photos/")
    page.locator(f"a[href='/photos/{photo.pk}/']").first.click()
    page.get_by_role("button", name="Delete this photo and its results").click()
    expect(page.get_by_text("The photo and its results were deleted.")).to_be_visible()
    assert not Photo.objects.exists()
    assert [p for p in _isolated_media.rglob("*") if p.is_file()] == []
    context.close()


def test_a_photo_captured_offline_waits_then_uploads_when_back_online(browser: Browser, base_url):
    context = new_context(browser, viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    sign_up(page, base_url, "offline@example.com")
    page.goto(f"{base_url}/photos/new/")
    page.evaluate("async () => { await navigator.serviceWorker.ready; }")
    context.set_offline(True)
    page.set_input_files(
        "#camera-input", files=[{"name": "IMG_9.jpg", "mimeType": "image/jpeg", "buffer": images.jpeg()}]
    )
    page.get_by_role("button", name="Upload this photo").click()
    expect(page.get_by_text("IMG_9.jpg: Waiting to upload (offline)")).to_be_visible()
    expect(page.get_by_role("list", name="Waiting to upload")).to_contain_text("IMG_9.jpg")
    assert not Photo.objects.exists()
    screenshot(page, "offline-waiting-360")

    context.set_offline(False)
    expect(page.get_by_text(re.compile(r"IMG_9\.jpg: uploaded"))).to_be_visible(timeout=30_000)
    assert Photo.objects.filter(owner__email="offline@example.com", original_name="IMG_9.jpg").count() == 1
    # Reloading does not send it twice: the queue is empty.
    page.reload()
    page.wait_for_timeout(1000)
    assert Photo.objects.count() == 1
    context.close()
