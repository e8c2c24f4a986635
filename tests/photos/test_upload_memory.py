"""An upload request's memory stays bounded: files too costly to decode there are checked from
their header and structure only, and decoded in full by the worker (upload_memory_bench
measures the figures)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import numpy as np
import pillow_heif
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image, ImageFile, WebPImagePlugin

from photos import imaging
from photos.models import Photo, PhotoStatus
from photos.services import photo_preprocess
from tests.photos import images

pytestmark = pytest.mark.django_db(transaction=True)


def _post(client, content: bytes, name: str = "photo.bin", url: str = "/api/v1/photos"):
    return client.post(url, {"file": SimpleUploadedFile(name, content, content_type="image/jpeg")})


def _stored_files(media: Path) -> list[Path]:
    return [p for p in media.rglob("*") if p.is_file()]


@contextmanager
def no_pixel_decodes() -> Iterator[mock.MagicMock]:
    """Fails any pixel decode (Pillow's, pillow-heif's or WebP's load) within the block."""
    spy = mock.MagicMock(side_effect=AssertionError("decoded pixels in the web request"))
    with (
        mock.patch.object(ImageFile.ImageFile, "load", spy),
        mock.patch.object(pillow_heif.as_plugin.HeifImageFile, "load", spy),
        mock.patch.object(WebPImagePlugin.WebPImageFile, "load", spy),
    ):
        yield spy


def rgba16_png(size: tuple[int, int] = (800, 600)) -> bytes:
    import cv2

    rgb = np.asarray(images.photo(size), dtype=np.uint16) * 257
    bgra = np.dstack([rgb[..., ::-1], np.full(rgb.shape[:2], 65535, np.uint16)])
    ok, encoded = cv2.imencode(".png", bgra)
    assert ok
    return encoded.tobytes()


WORST_CASES = {
    "gray16.png": images.png16,
    "rgba16.png": rgba16_png,
    "cap.heic": images.heic,
    "progressive.jpg": lambda: images.jpeg(progressive=True, subsampling=0),
    "lossy.webp": lambda: images.encode(images.photo(), "WEBP", quality=80),
}


@pytest.mark.parametrize("name", WORST_CASES)
def test_a_file_over_the_check_budget_is_accepted_without_decoding_a_pixel(
    signed_in_client, settings, name, _isolated_media
):
    # given a request budget smaller than what decoding any of these files takes
    settings.PHOTO_VERIFY_MAX_DECODE_BYTES = 1000
    content = WORST_CASES[name]()
    # when it is uploaded
    with no_pixel_decodes() as spy:
        response = _post(signed_in_client, content, name=name)
    # then it is taken without decoding a pixel in the request
    assert response.status_code == 201, response.json()
    assert spy.call_count == 0
    assert Photo.objects.get(pk=response.json()["id"]).status == PhotoStatus.UPLOADED


@pytest.mark.parametrize("name", WORST_CASES)
def test_the_worker_prepares_files_the_request_did_not_decode(
    signed_in_client, settings, name, _isolated_media
):
    settings.PHOTO_VERIFY_MAX_DECODE_BYTES = 1000
    with mock.patch.object(imaging, "verify_decode", side_effect=AssertionError("decoded in the request")):
        response = _post(signed_in_client, WORST_CASES[name](), name=name)
    assert response.status_code == 201, response.json()
    photo = photo_preprocess(photo_id=response.json()["id"])
    assert photo.status == PhotoStatus.READY, photo.error
    assert (photo.width, photo.height) == (640, 480) or name == "rgba16.png"
    assert photo.is_grayscale is (name == "gray16.png")
    with Image.open(_isolated_media / photo.image.name) as img:
        assert img.format == "JPEG" and img.mode == "RGB"
    assert len(_stored_files(_isolated_media)) == 2  # the original is gone


@pytest.mark.parametrize(
    "make", [images.heic, lambda: images.encode(images.photo(), "WEBP", quality=80)], ids=["heic", "webp"]
)
def test_a_cut_short_file_over_the_budget_is_refused_now_or_rejected_by_the_worker(
    signed_in_client, settings, make, _isolated_media
):
    # given a file cut short, too costly for the request to decode
    settings.PHOTO_VERIFY_MAX_DECODE_BYTES = 1000
    data = make()
    response = _post(signed_in_client, data[: len(data) * 3 // 4], name="cut.bin")
    if response.status_code == 422:  # the damage shows in the header already: refused at once
        assert "damaged or incomplete" in response.json()["message"]
        assert Photo.objects.count() == 0 and _stored_files(_isolated_media) == []
        return
    assert response.status_code == 201, response.json()
    # when the worker decodes it, then it is rejected with the reason and nothing is kept
    photo = photo_preprocess(photo_id=response.json()["id"])
    assert photo.status == PhotoStatus.REJECTED
    assert "damaged or incomplete" in photo.error
    assert _stored_files(_isolated_media) == []


@pytest.mark.parametrize("cut", ["truncated", "corrupted"])
def test_a_damaged_png_over_the_budget_is_refused_from_its_chunks_without_decoding(
    signed_in_client, settings, cut, _isolated_media
):
    settings.PHOTO_VERIFY_MAX_DECODE_BYTES = 1000
    data = bytearray(images.png16())
    if cut == "truncated":
        data = data[: len(data) - 5000]
    else:
        data[len(data) // 2] ^= 0xFF  # one flipped byte inside the pixel data
    with no_pixel_decodes() as spy:
        response = _post(signed_in_client, bytes(data), name="scan.png")
    assert response.status_code == 422
    assert response.json()["code"] == "unreadable_image"
    assert "damaged or incomplete" in response.json()["message"]
    assert spy.call_count == 0
    assert Photo.objects.count() == 0
    assert _stored_files(_isolated_media) == []


def test_a_truncated_baseline_jpeg_is_still_refused_in_the_request(
    signed_in_client, settings, _isolated_media
):
    # given a budget a 1/8-scale JPEG decode fits in, but a full one would not
    settings.PHOTO_VERIFY_MAX_DECODE_BYTES = 100_000
    data = images.jpeg()
    response = _post(signed_in_client, data[: len(data) // 2])
    assert response.status_code == 422
    assert "damaged or incomplete" in response.json()["message"]
    assert Photo.objects.count() == 0
    assert _stored_files(_isolated_media) == []


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_a_bomb_is_refused_from_its_header_without_decoding(signed_in_client, _isolated_media):
    bomb = images.encode(Image.new("L", (12_000, 11_000)), "PNG", optimize=True)  # 132 MP of zeros
    with no_pixel_decodes() as spy:
        response = _post(signed_in_client, bomb, name="bomb.png")
    assert response.status_code == 422
    assert "megapixels" in response.json()["message"]
    assert spy.call_count == 0
    assert Photo.objects.count() == 0
    assert _stored_files(_isolated_media) == []


def test_corner_detection_refuses_a_file_too_costly_to_decode(signed_in_client, settings):
    settings.PHOTO_VERIFY_MAX_DECODE_BYTES = 1000
    big = images.png16()
    with no_pixel_decodes() as spy:
        response = _post(signed_in_client, big, name="big.png", url="/api/v1/photos/detect")
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    assert "smaller copy" in response.json()["message"]
    assert spy.call_count == 0


def test_corner_detection_still_works_on_the_small_copy_the_page_sends(signed_in_client):
    small = images.jpeg(images.photo((640, 480)), quality=85)
    response = _post(signed_in_client, small, name="detect.jpg", url="/api/v1/photos/detect")
    assert response.status_code == 200
    assert set(response.json()) == {"found", "quad", "confidence"}


# --- imaging, without Django -----------------------------------------------------------


def _opened(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def test_decode_cost_counts_what_each_format_holds_while_decoding():
    size = 640 * 480
    assert imaging.decode_cost(_opened(images.jpeg())) == size * 4 // 64  # baseline: 1/8 scale
    assert imaging.decode_cost(_opened(images.jpeg(progressive=True))) == size * 2 * 3  # coefficients
    assert imaging.decode_cost(_opened(images.png16())) == size * 2
    assert imaging.decode_cost(_opened(rgba16_png((640, 480)))) == size * 4
    assert imaging.decode_cost(_opened(images.heic())) > imaging.decode_cost(
        _opened(images.encode(images.photo(), "PNG"))
    )


def test_sixteen_bit_gray_keeps_its_top_byte_in_strips():
    ramp = np.tile(np.arange(0, 65536, 64, dtype=np.uint16), (600, 1))  # 600 rows: several strips
    out = imaging._eight_bit(Image.fromarray(ramp))
    assert out.mode == "L"
    assert np.array_equal(np.asarray(out), (ramp >> 8).astype(np.uint8))


def test_reducing_a_large_rgba_image_makes_no_whole_image_premultiplied_copy():
    # given a large RGBA picture (the worker's 16-bit RGBA PNGs decode to RGBA)
    img = Image.new("RGBA", (3000, 2000), (200, 120, 40, 255))
    converted: list[tuple[int, int]] = []
    real_convert = Image.Image.convert

    def convert(self: Image.Image, mode: str | None = None, *args: object, **kwargs: object) -> Image.Image:
        if mode == "RGBa":
            converted.append(self.size)
        return real_convert(self, mode, *args, **kwargs)

    # when it is reduced for preprocessing
    with mock.patch.object(Image.Image, "convert", convert):
        reduced = imaging._reduce(img, 300)
    # then only strips of rows are premultiplied, and the result is Pillow's own reduction
    assert converted and max(h for _, h in converted) <= imaging.STRIP_ROWS
    assert np.array_equal(np.asarray(reduced), np.asarray(img.reduce(10)))


def test_the_benchmarks_worst_cases_sit_at_the_pixel_cap_and_the_check_budget(settings):
    from photos.management.commands.upload_memory_bench import budget_size, cap_size

    width, height = cap_size()
    assert imaging.MAX_PIXELS * 0.999 < width * height <= imaging.MAX_PIXELS
    for name, fmt, mode in [("budget.webp", "WEBP", "RGB"), ("budget.heic", "HEIF", "RGB"),
                            ("budget-rgba16.png", "PNG", "RGBA")]:  # fmt: skip
        probe = Image.new(mode, budget_size(name))
        probe.format = fmt
        cost = imaging.decode_cost(probe)
        assert settings.PHOTO_VERIFY_MAX_DECODE_BYTES * 0.99 < cost <= settings.PHOTO_VERIFY_MAX_DECODE_BYTES
