"""The main journey in a real browser: sign up, add a photo, straighten it, upload with
progress, restore it on a real worker, compare before/after, download."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from processing.models import Job
from tests.browser.conftest import PHONE, new_context, screenshot, sign_up
from tests.conftest import start_worker, stop_worker
from tests.photos import images

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(_redis_clean):
    proc = start_worker(name="browser")
    yield proc
    stop_worker(proc)


def drop_file(page: Page, selector: str, data: bytes, name: str, mime: str = "image/jpeg") -> None:
    """Drag-and-drop a file onto an element, as the desktop browser does."""
    transfer = page.evaluate_handle(
        """([b64, name, mime]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const dt = new DataTransfer();
            dt.items.add(new File([bytes], name, { type: mime }));
            return dt;
        }""",
        [base64.b64encode(data).decode(), name, mime],
    )
    page.dispatch_event(selector, "dragenter", {"dataTransfer": transfer})
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


def restore_and_compare(page: Page, base_url: str, shot: str, download_name: str) -> None:
    """From a ready photo's page: start a restore, follow it live, compare and download."""
    expect(page.get_by_role("link", name="Restore, colourize or animate")).to_be_visible(timeout=30_000)
    page.get_by_role("link", name="Restore, colourize or animate").click()
    expect(page.get_by_text("Your balance: 3 credits")).to_be_visible()
    expect(page.get_by_role("radio", name=re.compile("Restore — 2 credits"))).to_be_checked()
    # The default engine cannot really colourize: shown, unavailable, never charged.
    colour = page.get_by_role("radio", name=re.compile("Restore \\+ colourize — 4 credits"))
    expect(colour).to_be_disabled()
    expect(colour).to_have_accessible_description(
        re.compile("Not available: This server cannot add real colour")
    )
    expect(page.get_by_label("Colour hints (optional)")).to_have_count(0)
    page.get_by_role("button", name="Start").click()
    expect(page.get_by_role("heading", name="Done")).to_be_visible(timeout=60_000)
    slider = page.get_by_label("Compare before and after")
    after = page.locator("[data-compare-after]")
    before_clip = after.evaluate("(el) => el.style.clipPath")
    slider.focus()
    for _ in range(10):
        page.keyboard.press("ArrowRight")
    assert after.evaluate("(el) => el.style.clipPath") != before_clip
    zoom = page.get_by_role("button", name="Zoom in")
    width = page.locator("[data-compare-stage]").bounding_box()["width"]
    zoom.click()
    expect(page.get_by_text("Zoom 2×")).to_be_visible()
    assert page.locator("[data-compare-stage]").bounding_box()["width"] > 1.9 * width
    page.get_by_role("button", name="Reset zoom").click()
    screenshot(page, shot)
    with page.expect_download() as info:
        page.get_by_role("link", name="Download").click()
    download = info.value
    assert download.suggested_filename == download_name  # named from the photo and the kind
    assert Path(download.path()).read_bytes()[:3] == b"\xff\xd8\xff"  # a JPEG


def test_desktop_drop_crop_upload_restore_compare_download(browser: Browser, base_url, worker):
    context = new_context(browser)
    page = context.new_page()
    sign_up(page, base_url, "desk@example.com")
    page.goto(f"{base_url}/photos/new/")
    scene = images.photo_of_photo(
        images.photo((800, 600)), (1200, 860), [(180, 90), (1010, 140), (960, 760), (150, 700)]
    )
    drop_file(page, "[data-dropzone]", images.jpeg(scene), "print.jpg")

    # The cropper shows the picture with four corner handles; detected corners arrive.
    handles = page.locator(".crop-handle")
    expect(handles).to_have_count(4)
    expect(page.get_by_role("button", name="Use detected corners")).to_be_enabled(timeout=15_000)
    # Drag the top-left corner with the mouse, nudge it with the keyboard.
    box = handles.nth(0).bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + 30, box["y"] + 25, steps=5)
    page.mouse.up()
    handles.nth(0).focus()
    label_before = handles.nth(0).get_attribute("aria-label")
    page.keyboard.press("Shift+ArrowDown")
    assert handles.nth(0).get_attribute("aria-label") != label_before
    preview_width = page.locator("[data-crop-preview]").evaluate("(c) => c.width")
    assert preview_width > 0
    screenshot(page, "crop-1280")

    page.get_by_role("button", name="Upload this photo").click()
    page.wait_for_url(re.compile(r"/photos/\d+/$"), timeout=30_000)
    photo_id = int(page.url.rstrip("/").split("/")[-1])
    restore_and_compare(page, base_url, "result-1280", "print-restored.jpg")
    job = Job.objects.get(photo_id=photo_id)
    assert job.status == "succeeded" and job.photo.quad_source == "person"

    # Share the result; a stranger sees it; revoking takes it away at once.
    page.get_by_role("button", name="Create a share link (7 days)").click()
    share_url = page.locator("[data-share-url]").input_value()
    stranger = new_context(browser).new_page()
    stranger.goto(share_url)
    expect(stranger.get_by_role("heading", name="A photo brought back with Rekindle")).to_be_visible()
    expect(stranger.get_by_text("Report this picture")).to_be_visible()
    page.get_by_role("button", name="Stop sharing").click()
    stranger.reload()
    expect(stranger.get_by_role("heading", name="This picture isn't shared any more")).to_be_visible()
    context.close()


def test_phone_file_input_upload_and_restore(browser: Browser, base_url, worker):
    context = new_context(browser, viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    sign_up(page, base_url, "phone@example.com")
    page.goto(f"{base_url}/photos/new/")
    expect(page.get_by_text("Take a photo")).to_be_visible()
    page.set_input_files(
        "#camera-input", files=[{"name": "IMG_0001.jpg", "mimeType": "image/jpeg", "buffer": images.jpeg()}]
    )
    expect(page.locator(".crop-handle")).to_have_count(4)
    screenshot(page, "crop-360")
    page.get_by_role("button", name="Upload this photo").click()
    page.wait_for_url(re.compile(r"/photos/\d+/$"), timeout=30_000)
    restore_and_compare(page, base_url, "result-360", "img_0001-restored.jpg")
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    context.close()


def test_upload_errors_show_the_servers_message(browser: Browser, base_url):
    context = new_context(browser)
    page = context.new_page()
    sign_up(page, base_url, "errors@example.com")
    page.goto(f"{base_url}/photos/new/")
    # A PDF renamed to .jpg: the browser cannot draw it, so it goes straight to the server.
    page.set_input_files(
        "#gallery-input",
        files=[{"name": "scan.jpg", "mimeType": "image/jpeg", "buffer": b"%PDF-1.4\n%%EOF\n"}],
    )
    expect(page.locator("[data-upload-error]")).to_contain_text("upload a JPEG, PNG, HEIC or WebP image")
    context.close()


def test_big_photos_are_shrunk_in_the_browser_without_changing_the_result(browser: Browser, base_url, capsys):
    import io

    import numpy as np
    from PIL import Image
    from skimage.metrics import structural_similarity

    from photos import imaging
    from photos.models import Photo
    from photos.services import photo_preprocess

    context = new_context(browser)
    page = context.new_page()
    sign_up(page, base_url, "big@example.com")
    page.goto(f"{base_url}/photos/new/")
    original = images.encode(images.photo((4000, 3000)), "JPEG", quality=95)
    page.set_input_files(
        "#gallery-input", files=[{"name": "scan.jpg", "mimeType": "image/jpeg", "buffer": original}]
    )
    expect(page.locator(".crop-handle")).to_have_count(4)
    page.get_by_role("button", name="Upload this photo").click()
    page.wait_for_url(re.compile(r"/photos/\d+/$"), timeout=30_000)
    photo = Photo.objects.get()
    sent = photo.bytes
    assert sent < len(original) * 0.6
    ready = photo_preprocess(photo_id=photo.pk)
    from django.core.files.storage import default_storage

    with default_storage.open(ready.image.name, "rb") as fh:
        via_browser = np.asarray(Image.open(fh).convert("RGB"))
    # The same pipeline on the original file, stored the same way (JPEG) for a fair comparison.
    direct_image = imaging.prepare(io.BytesIO(original), quad=ready.quad).image
    direct = np.asarray(Image.open(io.BytesIO(imaging.encode_jpeg(direct_image))).convert("RGB"))
    assert via_browser.shape == direct.shape
    ssim = structural_similarity(via_browser, direct, channel_axis=2, data_range=255)
    with capsys.disabled():
        saved = 1 - sent / len(original)
        print(f"\nbrowser downscale: {len(original) / 1e6:.2f} MB → {sent / 1e6:.2f} MB ({saved:.0%} saved), "
              f"processing-ready SSIM vs. the original's: {ssim:.4f}")  # fmt: skip
    assert ssim >= 0.97
    context.close()


def test_heic_the_browser_cannot_draw_is_sent_first_and_straightened_on_the_server_preview(
    browser: Browser, base_url, worker
):
    from photos.models import Photo

    context = new_context(browser)
    page = context.new_page()
    sign_up(page, base_url, "heic@example.com")
    page.goto(f"{base_url}/photos/new/")
    page.set_input_files(
        "#gallery-input", files=[{"name": "IMG.HEIC", "mimeType": "image/heic", "buffer": images.heic()}]
    )
    page.wait_for_url(re.compile(r"/photos/\d+/$"), timeout=30_000)
    page.get_by_role("link", name="Straighten again").click(timeout=30_000)
    handles = page.locator(".crop-handle")
    expect(handles).to_have_count(4)
    handles.nth(0).focus()
    for _ in range(4):
        page.keyboard.press("Shift+ArrowRight")
    page.get_by_role("button", name="Straighten").click()
    expect(page.get_by_text("The photo was straightened.")).to_be_visible()
    photo = Photo.objects.get()
    assert photo.source_format == "HEIF" and photo.quad_source == "person"
    assert photo.quad[0][0] == pytest.approx(0.2, abs=0.01)
    context.close()


def test_several_files_go_one_after_another_and_a_dropped_connection_can_be_retried(
    browser: Browser, base_url
):
    from photos.models import Photo

    context = new_context(browser)
    page = context.new_page()
    sign_up(page, base_url, "many@example.com")
    page.goto(f"{base_url}/photos/new/")
    expect(page.get_by_text("buy credits")).to_have_count(0)
    failures = {"left": 1}

    def flaky(route):
        if failures["left"]:
            failures["left"] -= 1
            return route.abort("connectionreset")
        return route.continue_()

    page.route("**/api/v1/photos", flaky)
    page.set_input_files(
        "#gallery-input",
        files=[
            {"name": "one.jpg", "mimeType": "image/jpeg", "buffer": images.jpeg()},
            {"name": "two.png", "mimeType": "image/png", "buffer": images.encode(images.photo(), "PNG")},
        ],
    )
    page.get_by_role("button", name="Upload this photo").click()
    expect(page.locator("[data-upload-error]")).to_contain_text("The connection dropped")
    page.get_by_role("button", name="Retry").click()
    expect(page.get_by_text("one.jpg: Uploaded")).to_be_visible(timeout=15_000)
    # The second file is next in line, in the cropper.
    expect(page.get_by_text("two.png: Straighten it, then upload")).to_be_visible()
    page.get_by_role("button", name="Upload this photo").click()
    expect(page.get_by_text("two.png: Uploaded")).to_be_visible(timeout=15_000)
    assert sorted(Photo.objects.values_list("original_name", flat=True)) == ["one.jpg", "two.png"]
    context.close()
