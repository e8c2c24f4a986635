"""Uploading through the API: every accepted variant, every refusal, nothing left behind."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from photos.models import Photo, PhotoStatus
from photos.services import photo_preprocess
from tests.photos import images

pytestmark = pytest.mark.django_db(transaction=True)


def _post(client, content: bytes, name: str = "photo.jpg", **data):
    upload = SimpleUploadedFile(name, content, content_type="image/jpeg")
    return client.post("/api/v1/photos", {"file": upload, **data})


def _stored_files(media: Path) -> list[Path]:
    return [p for p in media.rglob("*") if p.is_file()]


@pytest.mark.parametrize(
    ("factory", "fmt"),
    [
        (images.jpeg, "JPEG"),
        (lambda: images.jpeg(progressive=True), "JPEG"),
        (images.cmyk_jpeg, "JPEG"),
        (images.png16, "PNG"),
        (images.palette_png, "PNG"),
        (images.rgba_png, "PNG"),
        (images.heic, "HEIF"),
        (images.animated_webp, "WEBP"),
        (images.srgb_icc_jpeg, "JPEG"),
        (images.gray_jpeg, "JPEG"),
        (images.ycck_jpeg, "JPEG"),
        (images.animated_png, "PNG"),
        (lambda: images.wide_gamut_jpeg()[0], "JPEG"),
        (lambda: images.encode(images.photo(), "WEBP", quality=90), "WEBP"),
        (lambda: images.encode(images.photo().convert("RGBA"), "WEBP", lossless=True), "WEBP"),
    ],
)
def test_each_accepted_variant_becomes_a_ready_photo(signed_in_client, factory, fmt, _isolated_media):
    response = _post(signed_in_client, factory(), name="upload.bin")
    assert response.status_code == 201, response.json()
    photo = Photo.objects.get(pk=response.json()["id"])
    assert photo.source_format == fmt
    photo = photo_preprocess(photo_id=photo.pk)
    assert photo.status == PhotoStatus.READY
    with Image.open(_isolated_media / photo.image.name) as img:
        assert img.format == "JPEG" and img.mode == "RGB"
        assert max(img.size) <= 1280 and min(img.size) <= 720
        assert not img.getexif()  # metadata stripped
    assert not photo.original  # the upload itself is gone
    assert len(_stored_files(_isolated_media)) == 2  # processing-ready image + thumbnail


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientations_come_out_upright_without_gps(signed_in_client, orientation, _isolated_media):
    upright = images.photo((640, 480))
    # Store the pixels as a camera would for this orientation, then let EXIF turn them back.
    inverse = {
        1: None, 2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_90,
        7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_270,
    }[orientation]  # fmt: skip
    stored = upright.transpose(inverse) if inverse is not None else upright
    response = _post(signed_in_client, images.jpeg_with_orientation(orientation, stored))
    photo = photo_preprocess(photo_id=response.json()["id"])
    assert (photo.width, photo.height) == (640, 480)
    with Image.open(_isolated_media / photo.image.name) as img:
        assert 0x8825 not in img.getexif()
        top_left = img.convert("RGB").resize((8, 6)).getpixel((0, 0))
    expected = upright.resize((8, 6)).getpixel((0, 0))
    assert sum(abs(a - b) for a, b in zip(top_left, expected, strict=True)) < 60


def test_grayscale_is_detected_for_gray_pixels_in_a_colour_file(signed_in_client):
    response = _post(signed_in_client, images.jpeg(images.gray_photo().convert("RGB")))
    photo = photo_preprocess(photo_id=response.json()["id"])
    assert photo.is_grayscale is True
    colour = photo_preprocess(photo_id=_post(signed_in_client, images.jpeg()).json()["id"])
    assert colour.is_grayscale is False


def _zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("a.txt", "hello")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("content", "name"),
    [
        (_zip_bytes(), "photo.jpg"),
        (b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF", "scan.pdf"),
        (b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', "logo.svg"),
        (images.encode(images.photo((64, 48)), "GIF"), "anim.gif"),
        (b"just some text, renamed to look like a photo", "photo.jpg"),
        (b"", "empty.jpg"),
        (images.encode(images.photo((64, 48)), "BMP"), "photo.png"),
    ],
)
def test_files_that_are_not_one_of_the_four_formats_get_415_and_leave_nothing(
    signed_in_client, content, name, _isolated_media
):
    response = _post(signed_in_client, content, name=name)
    assert response.status_code == 415, response.content
    body = response.json()
    assert body["code"] == "unsupported_type"
    assert "JPEG, PNG, HEIC or WebP" in body["message"]
    assert Photo.objects.count() == 0
    assert _stored_files(_isolated_media) == []


def test_truncated_jpeg_gets_422_and_leaves_nothing(signed_in_client, _isolated_media):
    data = images.jpeg()
    response = _post(signed_in_client, data[: len(data) // 2])
    assert response.status_code == 422
    assert response.json()["code"] == "unreadable_image"
    assert "damaged or incomplete" in response.json()["message"]
    assert Photo.objects.count() == 0
    assert _stored_files(_isolated_media) == []


# Pillow warns on opening the header; the refusal is what is under test.
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_decompression_bomb_gets_422(signed_in_client, _isolated_media):
    bomb = images.encode(Image.new("L", (12_000, 11_000)), "PNG", optimize=True)  # 132 MP of zeros, tiny file
    response = _post(signed_in_client, bomb, name="bomb.png")
    assert response.status_code == 422
    assert "megapixels" in response.json()["message"]
    assert Photo.objects.count() == 0
    assert _stored_files(_isolated_media) == []


def test_file_over_50_mb_gets_413_before_anything_is_stored(signed_in_client, settings, _isolated_media):
    settings.PHOTO_MAX_BYTES = 100_000  # the same rule, with a smaller limit to keep the test quick
    big = images.encode(images.photo((1600, 1200)), "PNG")
    assert len(big) > 100_000
    response = _post(signed_in_client, big, name="big.png")
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    assert Photo.objects.count() == 0
    assert _stored_files(_isolated_media) == []


def test_request_body_over_the_limit_is_refused_unread(signed_in_client, settings):
    response = signed_in_client.post(
        "/api/v1/photos",
        data=b"x" * 10,
        content_type="application/octet-stream",
        CONTENT_LENGTH=str(80 * 2**20),
    )
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"


@pytest.mark.parametrize(
    "quad",
    ["not json", json.dumps([[0, 0], [1, 0], [1, 1]]), json.dumps([[0, 0], [1, 1], [1, 0], [0, 1]]),
     json.dumps([[0, 0], [2, 0], [1, 1], [0, 1]])],
)  # fmt: skip
def test_bad_corners_get_422_and_leave_nothing(signed_in_client, quad, _isolated_media):
    response = _post(signed_in_client, images.jpeg(), quad=quad)
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_quad"
    assert Photo.objects.count() == 0
    assert _stored_files(_isolated_media) == []


def test_uploads_are_rate_limited_per_person_with_a_clear_429(signed_in_client, settings):
    settings.PHOTO_UPLOAD_RATE = "2/h"
    statuses = [_post(signed_in_client, b"not an image").status_code for _ in range(3)]
    assert statuses[:2] == [415, 415]
    assert statuses[2] == 429
    body = _post(signed_in_client, b"not an image").json()
    assert body["code"] == "rate_limited"
