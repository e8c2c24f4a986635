"""Animation in a real browser (issue 15): "Animate this" on a finished picture says price,
balance and what happens, the job runs (the local engine's living photo), and the result page and
the public share page play the MP4 inline in Chromium: the <video> element has data to show
(readyState ≥ 2) and its time advances. Pages run under the site's own Content Security Policy,
at phone width."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import Client
from playwright.sync_api import Browser, Page, expect

from credits.services import credits_grant
from processing import services
from processing.models import Job
from processing.services import job_create, job_run
from processing.sharing import share_create
from tests.browser.conftest import PHONE, axe_violations, new_context, screenshot
from tests.processing.test_jobs import ready_photo

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _signed_in(browser: Browser, base_url: str, user: Any, **options: Any) -> Page:
    client = Client()
    client.force_login(user)
    context = new_context(browser, viewport=PHONE, is_mobile=True, has_touch=True, **options)
    context.add_cookies(
        [
            {
                "name": django_settings.SESSION_COOKIE_NAME,
                "value": client.cookies[django_settings.SESSION_COOKIE_NAME].value,
                "url": base_url,
            }
        ]
    )
    return context.new_page()


def _plays(page: Page) -> None:
    """The page's video has frames to show and its clock moves."""
    video = page.locator("video[data-result-video]")
    expect(video).to_be_visible()
    page.wait_for_function("() => document.querySelector('video[data-result-video]').readyState >= 2")
    # Autoplay of a muted video is allowed; play() again in case the headless policy paused it.
    page.evaluate("() => document.querySelector('video[data-result-video]').play()")
    start = video.evaluate("(v) => v.currentTime")
    page.wait_for_function(
        "(t) => document.querySelector('video[data-result-video]').currentTime > t + 0.2", arg=start
    )
    attributes = video.evaluate(
        "(v) => [v.muted, v.loop, v.hasAttribute('playsinline'), v.controls, !!v.poster, v.error]"
    )
    assert attributes == [True, True, True, True, True, None]


def test_animate_this_then_watch_the_video_and_its_share_page(browser: Browser, base_url, user, settings):
    settings.VIDEO_FRAMES = 33  # about 2 s: enough to see time advance, quick to make
    credits_grant(user=user, amount=20, key="browser-animate", reason="test")
    original = services.job_enqueue
    services.job_enqueue = lambda *, job, countdown=None: None
    try:
        source = job_create(user=user, photo_id=ready_photo(user).pk, kind="restore")
        job_run(job_id=source.pk)
        page = _signed_in(browser, base_url, user)
        page.goto(f"{base_url}/jobs/{source.pk}/")
        page.get_by_role("link", name="Animate this").click()
        expect(page.get_by_text("Animate — 8 credits.")).to_be_visible()
        expect(page.get_by_text("Your balance: 21 credits")).to_be_visible()
        expect(page.get_by_text("13 credits left")).to_be_visible()
        page.get_by_role("radio", name="Slow camera push-in").check()
        page.get_by_label("Describe the motion (optional)").fill("the camera moves closer")
        screenshot(page, "animate-choose-phone")
        page.get_by_role("button", name="Animate for 8 credits").click()
        job = Job.objects.get(kind="animate")
        assert job.options == {"preset": "push_in", "description": "the camera moves closer"}
    finally:
        services.job_enqueue = original
    job_run(job_id=job.pk)
    page.goto(f"{base_url}/jobs/{job.pk}/")
    expect(page.get_by_role("heading", name="Done")).to_be_visible()
    _plays(page)
    expect(page.get_by_role("link", name="Download video (MP4)")).to_be_visible()
    # Keyboard: the video's controls are reachable with Tab.
    page.locator("video[data-result-video]").focus()
    assert page.evaluate("() => document.activeElement.tagName") == "VIDEO"
    screenshot(page, "animate-result-phone")

    link = share_create(user=user, job_id=job.pk)
    stranger = new_context(browser, viewport=PHONE).new_page()
    stranger.goto(f"{base_url}/s/{link.token}/")
    expect(stranger.get_by_text("Animated without AI")).to_be_visible()
    _plays(stranger)
    screenshot(stranger, "animate-share-phone")


def test_the_animate_and_video_pages_have_no_serious_accessibility_violations(
    browser: Browser, base_url, user, settings
):
    settings.VIDEO_FRAMES = 9
    credits_grant(user=user, amount=20, key="browser-animate-axe", reason="test")
    original = services.job_enqueue
    services.job_enqueue = lambda *, job, countdown=None: None
    try:
        source = job_create(user=user, photo_id=ready_photo(user).pk, kind="restore")
        job_run(job_id=source.pk)
        video = job_create(user=user, kind="animate", photo_id=source.photo_id)
        job_run(job_id=video.pk)
    finally:
        services.job_enqueue = original
    page = _signed_in(browser, base_url, user, bypass_csp=True)  # axe is an injected script
    for path in (f"/jobs/{source.pk}/animate/", f"/jobs/{video.pk}/", f"/jobs/new/{source.photo_id}/"):
        page.goto(f"{base_url}{path}")
        assert axe_violations(page) == [], path
        # Nothing wider than the phone's screen.
        assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"], path
