"""With S3 configured the page sends photos straight to the bucket (SeaweedFS here).

Every request the live server handles is recorded (Django's request_started signal gives
its environ), so the test can say how many bytes reached Django while a photo of several
megabytes went to the bucket.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import numpy as np
import pytest
from django.core.management import call_command
from django.core.signals import request_started
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from photos.models import Photo
from tests.browser.conftest import PHONE, new_context, screenshot, sign_up
from tests.photos import images
from tests.s3 import BUCKET

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# The page's progress text, every time it changes, to the console (the test keeps it across
# the navigation to the photo's page that follows the upload).
RECORD_PROGRESS = """
document.addEventListener("DOMContentLoaded", () => {
  const text = document.querySelector("[data-progress-text]");
  if (!text) return;
  new MutationObserver(() => console.debug(`progress: ${text.textContent}`)).observe(text, {
    childList: true, characterData: true, subtree: true,
  });
});
"""


def noisy_png(width: int = 1400, height: int = 1000) -> bytes:
    """About 4 MB that does not compress, small enough that the page sends it as it is."""
    pixels = np.random.default_rng(7).integers(0, 256, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


@pytest.fixture
def direct_s3(s3_storage, settings, live_server):
    """S3 on for the live server: the page's CSP lets it reach the bucket (as settings.py
    adds AWS_S3_ENDPOINT_URL), and s3_setup gives the bucket a CORS rule for this origin."""
    directives = settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]
    settings.CONTENT_SECURITY_POLICY = {
        "DIRECTIVES": {
            **directives,
            "connect-src": [*directives["connect-src"], s3_storage.endpoint],
            "img-src": [*directives["img-src"], s3_storage.endpoint],
        }
    }
    settings.AWS_S3_CORS_ORIGINS = [live_server.url]
    call_command("s3_setup")
    return s3_storage


@pytest.fixture
def django_requests() -> Iterator[list[dict]]:
    seen: list[dict] = []

    def record(sender: object, environ: dict, **kwargs: object) -> None:
        seen.append(
            {
                "method": environ["REQUEST_METHOD"],
                "path": environ["PATH_INFO"],
                "bytes": int(environ.get("CONTENT_LENGTH") or 0),
            }
        )

    request_started.connect(record)
    yield seen
    request_started.disconnect(record)


@pytest.fixture
def uploader(browser: Browser, base_url: str, direct_s3) -> Iterator[Page]:
    context = new_context(browser)  # the real Content Security Policy applies
    page = context.new_page()
    page.add_init_script(RECORD_PROGRESS)
    page.progress = []
    page.on("console", lambda m: m.text.startswith("progress: ") and page.progress.append(m.text[10:]))
    sign_up(page, base_url, "direct@example.com")
    page.goto(f"{base_url}/photos/new/")
    yield page
    context.close()


def test_the_photo_goes_to_the_bucket_with_progress_and_never_through_django(
    uploader: Page, direct_s3, django_requests, base_url, _redis_clean
):
    page = uploader
    assert page.locator("[data-uploader]").get_attribute("data-direct-upload") is not None
    content = noisy_png()
    django_requests.clear()

    page.set_input_files(
        "#gallery-input", files=[{"name": "scan.png", "mimeType": "image/png", "buffer": content}]
    )
    # a phone-like uplink (~2 s for the file), so progress has something to report
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 20, "downloadThroughput": -1, "uploadThroughput": 2 * 1024 * 1024},
    )
    page.get_by_role("button", name="Upload this photo").click()
    page.wait_for_url(re.compile(rf"{base_url}/photos/\d+/$"), timeout=30_000)

    # the bucket holds the file, byte for byte, encrypted at rest
    photo = Photo.objects.get()
    assert photo.upload_completed and photo.bytes == len(content)
    head = direct_s3.client().head_object(Bucket=BUCKET, Key=photo.original.name)
    assert head["ContentLength"] == len(content) and head["ServerSideEncryption"] == "AES256"
    # Django saw the presign and complete calls, small JSON, and never the upload endpoint
    calls = [(r["method"], r["path"]) for r in django_requests]
    assert ("POST", "/api/v1/photos/presign") in calls
    assert ("POST", f"/api/v1/photos/{photo.pk}/complete") in calls
    assert ("POST", "/api/v1/photos") not in calls
    bytes_to_django = sum(r["bytes"] for r in django_requests)
    print(f"\n{len(content)} bytes to the bucket; {bytes_to_django} bytes in {len(calls)} requests to Django")
    # (the crop page's corner finder gets its own ~640 px copy: a fraction of the photo)
    detect = [r["bytes"] for r in django_requests if r["path"] == "/api/v1/photos/detect"]
    assert sum(detect) < len(content) / 10
    assert bytes_to_django - sum(detect) < 10_000
    # the page reported the bucket upload's progress as it went
    progress = page.progress
    percents = [int(m.group(1)) for t in progress if (m := re.search(r"scan\.png: (\d+)%", t))]
    print(f"progress seen by the page: {percents}")
    assert len(percents) >= 3 and percents == sorted(percents) and percents[-1] == 100, progress


def test_a_file_over_the_limit_is_refused_by_the_bucket_and_the_page_says_why(
    uploader: Page, direct_s3, django_requests, settings, _redis_clean
):
    # given a limit below the file's size (the presigned policy carries it to the bucket)
    settings.PHOTO_MAX_BYTES = 1024 * 1024
    content = noisy_png()
    django_requests.clear()
    page = uploader
    page.set_input_files(
        "#gallery-input", files=[{"name": "big.png", "mimeType": "image/png", "buffer": content}]
    )
    page.get_by_role("button", name="Upload this photo").click()

    size = f"{len(content) / (1024 * 1024):.1f} MB"
    expect(page.get_by_role("alert")).to_have_text(
        f"big.png: This file is {size}; photos can be at most 1 MB.", timeout=30_000
    )
    expect(page.get_by_role("button", name="Retry")).to_be_hidden()  # retrying cannot help
    screenshot(page, "direct-upload-too-large-1280")
    # nothing is left behind: the slot was abandoned and the bucket refused the bytes
    assert Photo.objects.count() == 0
    assert direct_s3.objects() == []
    assert sum(r["bytes"] for r in django_requests if r["path"] != "/api/v1/photos/detect") < 10_000


def test_the_handoff_phone_sends_straight_to_the_bucket_too(
    browser: Browser, base_url: str, direct_s3, django_requests, _redis_clean
):
    desktop_ctx = new_context(browser)
    desktop = desktop_ctx.new_page()
    sign_up(desktop, base_url, "qr-direct@example.com")
    desktop.goto(f"{base_url}/photos/handoff/")
    link = desktop.locator("[data-handoff-url]").get_attribute("href")
    phone_ctx = new_context(browser, viewport=PHONE, is_mobile=True, has_touch=True)
    phone = phone_ctx.new_page()
    phone.goto(link)
    assert phone.locator("[data-uploader]").get_attribute("data-direct-upload") is not None
    django_requests.clear()

    phone.set_input_files(
        "#camera-input", files=[{"name": "IMG_1.jpg", "mimeType": "image/jpeg", "buffer": images.jpeg()}]
    )
    phone.get_by_role("button", name="Upload this photo").click()
    expect(phone.get_by_text("Sent to your computer")).to_be_visible(timeout=30_000)

    photo = Photo.objects.get()
    assert (
        photo.owner.email == "qr-direct@example.com" and photo.source == "handoff" and photo.upload_completed
    )
    calls = [(r["method"], r["path"]) for r in django_requests]
    assert ("POST", "/api/v1/photos/presign") in calls and ("POST", "/api/v1/photos") not in calls
    for ctx in (desktop_ctx, phone_ctx):
        ctx.close()


def test_a_photo_queued_offline_goes_to_the_bucket_when_the_connection_returns(
    uploader: Page, direct_s3, django_requests, _redis_clean
):
    page = uploader
    page.evaluate("async () => { await navigator.serviceWorker.ready; }")
    page.context.set_offline(True)
    page.set_input_files(
        "#camera-input", files=[{"name": "IMG_2.jpg", "mimeType": "image/jpeg", "buffer": images.jpeg()}]
    )
    page.get_by_role("button", name="Upload this photo").click()
    expect(page.get_by_text("IMG_2.jpg: Waiting to upload (offline)")).to_be_visible()
    assert Photo.objects.count() == 0
    django_requests.clear()

    page.context.set_offline(False)
    expect(page.get_by_text("IMG_2.jpg: uploaded")).to_be_visible(timeout=30_000)
    photo = Photo.objects.get()
    assert photo.upload_completed and photo.source == "camera"
    assert len(direct_s3.objects()) == 1
    calls = [(r["method"], r["path"]) for r in django_requests]
    assert ("POST", "/api/v1/photos/presign") in calls and ("POST", "/api/v1/photos") not in calls
    assert page.evaluate("async () => (await window.RekindleQueue.all()).length") == 0


def test_a_dropped_bucket_connection_can_be_retried_and_cancel_leaves_nothing(
    uploader: Page, direct_s3, _redis_clean
):
    page = uploader
    drops = {"left": 1}

    def flaky(route):
        if route.request.method == "POST" and drops["left"]:
            drops["left"] -= 1
            return route.abort("connectionreset")
        return route.continue_()

    page.route(f"{direct_s3.endpoint}/**", flaky)
    page.set_input_files(
        "#gallery-input", files=[{"name": "one.jpg", "mimeType": "image/jpeg", "buffer": images.jpeg()}]
    )
    page.get_by_role("button", name="Upload this photo").click()
    expect(page.locator("[data-upload-error]")).to_contain_text("The connection dropped")
    expect(page.get_by_role("button", name="Retry")).to_be_visible()
    page.get_by_role("button", name="Retry").click()
    page.wait_for_url(re.compile(r"/photos/\d+/$"), timeout=30_000)
    # the dropped attempt's slot was given up: one photo, one object
    assert list(Photo.objects.values_list("original_name", "upload_completed")) == [("one.jpg", True)]
    assert len(direct_s3.objects()) == 1

    # Cancel while the file is on its way (a slow uplink keeps it there for a while).
    page.goto(page.url.rsplit("/photos/", 1)[0] + "/photos/new/")
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 20, "downloadThroughput": -1, "uploadThroughput": 256 * 1024},
    )
    page.set_input_files(
        "#gallery-input", files=[{"name": "slow.png", "mimeType": "image/png", "buffer": noisy_png()}]
    )
    page.get_by_role("button", name="Upload this photo").click()
    expect(page.locator("[data-progress-text]")).to_contain_text("slow.png: ", timeout=15_000)
    page.get_by_role("button", name="Cancel upload").click()
    expect(page.get_by_text("slow.png: Cancelled")).to_be_visible()
    # the page gives the slot up as it cancels (a request of its own, not awaited)
    for _ in range(100):
        if Photo.objects.count() == 1:
            break
        page.wait_for_timeout(100)
    assert list(Photo.objects.values_list("original_name", flat=True)) == ["one.jpg"]
    assert len(direct_s3.objects()) == 1
