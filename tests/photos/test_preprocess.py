"""Preprocessing through the services: what each kind of file becomes, what is kept, what is not.

Uploads go through ``photo_upload`` (validation by content), then ``photo_preprocess`` runs
inline; the Celery path is in test_preprocess_worker.py.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage
from PIL import Image, ImageCms

from photos import imaging
from photos.models import Photo, PhotoStatus, QuadSource
from photos.services import photo_preprocess, photo_upload
from tests.photos import images

pytestmark = pytest.mark.django_db


def _upload(user, content: bytes, **kwargs) -> Photo:
    return photo_upload(user=user, file=io.BytesIO(content), size=len(content), name="p", **kwargs)


def _ready(user, content: bytes, **kwargs) -> Photo:
    photo = photo_preprocess(photo_id=_upload(user, content, **kwargs).pk)
    assert photo.status == PhotoStatus.READY, photo.error
    return photo


def _pixels(photo: Photo, field: str = "image") -> np.ndarray:
    with default_storage.open(getattr(photo, field).name, "rb") as fh:
        return np.asarray(Image.open(fh).convert("RGB"))


def _files(media: Path) -> list[Path]:
    return [p for p in media.rglob("*") if p.is_file()]


def test_every_piece_of_metadata_is_gone_from_both_outputs(user, _isolated_media):
    photo = _ready(user, images.jpeg_with_everything())
    for field in ("image", "thumbnail"):
        raw = (_isolated_media / getattr(photo, field).name).read_bytes()
        with Image.open(io.BytesIO(raw)) as img:
            assert not img.getexif()
            assert not {"exif", "icc_profile", "xmp", "comment"} & set(img.info)
        for secret in (b"SECRET-XMP", b"SECRET-COMMENT", b"PhoneMaker", b"Exif\0\0"):
            assert secret not in raw


def test_a_polyglot_is_re_encoded_and_its_payload_dropped(user, _isolated_media):
    _ready(user, images.zip_polyglot())
    for path in _files(_isolated_media):
        raw = path.read_bytes()
        assert b"PK\x03\x04" not in raw and b"SECRET-PAYLOAD" not in raw


def test_the_original_upload_is_deleted_once_prepared(user, _isolated_media):
    photo = _upload(user, images.jpeg())
    original = photo.original.name
    assert (_isolated_media / original).exists()
    photo = photo_preprocess(photo_id=photo.pk)
    assert not (_isolated_media / original).exists()
    assert not photo.original
    assert sorted(p.relative_to(_isolated_media).as_posix() for p in _files(_isolated_media)) == sorted(
        [photo.image.name, photo.thumbnail.name]
    )


def test_sizes_fit_the_box_and_the_thumbnail_is_320(user):
    photo = _ready(user, images.jpeg(images.photo((4000, 3000))))
    assert (photo.width, photo.height) == (960, 720)
    assert _pixels(photo).shape[:2] == (720, 960)
    assert max(_pixels(photo, "thumbnail").shape[:2]) == 320
    portrait = _ready(user, images.jpeg(images.photo((1500, 3000))))
    assert (portrait.width, portrait.height) == (640, 1280)
    small = _ready(user, images.jpeg(images.photo((400, 300))))
    assert (small.width, small.height) == (400, 300)  # never upscaled


def test_a_failure_rejects_the_photo_with_its_reason_and_deletes_the_original(user, _isolated_media):
    photo = _upload(user, images.jpeg())
    data = images.jpeg()
    # The stored upload is damaged after it was accepted (storage trouble, a truncated copy).
    (_isolated_media / photo.original.name).write_bytes(data[: len(data) // 3])
    photo = photo_preprocess(photo_id=photo.pk)
    assert photo.status == PhotoStatus.REJECTED
    assert "damaged or incomplete" in photo.error
    assert not photo.original and not photo.image and not photo.thumbnail
    assert _files(_isolated_media) == []


def test_preprocessing_twice_is_harmless(user, _isolated_media):
    photo = _ready(user, images.jpeg())
    again = photo_preprocess(photo_id=photo.pk)
    assert (again.image.name, again.status) == (photo.image.name, PhotoStatus.READY)
    assert len(_files(_isolated_media)) == 2


def test_the_persons_corners_straighten_the_print(user):
    # given a print photographed at an angle on a table, and the corners the person dragged
    original = images.photo((800, 600))
    corners, canvas = [(180, 90), (1010, 140), (960, 760), (150, 700)], (1200, 860)
    scene = images.photo_of_photo(original, canvas, corners)
    quad = [[x / canvas[0], y / canvas[1]] for x, y in corners]
    # when it is uploaded with them
    photo = _ready(user, images.jpeg(scene, quality=95), quad=json.dumps(quad))
    # then the processing-ready image is the print again, upright and straight
    assert photo.quad_source == QuadSource.PERSON and photo.quad == quad
    back = Image.fromarray(_pixels(photo)).resize(original.size, Image.Resampling.LANCZOS)
    assert imaging.ssim(np.asarray(original), np.asarray(back)) >= 0.9


def test_the_before_is_the_straightened_upload_without_enhancement(user):
    # given a faded, warm-cast print photographed at an angle, with the person's corners
    original = images.faded_tinted_photo((800, 600))
    corners, canvas = [(180, 90), (1010, 140), (960, 760), (150, 700)], (1200, 860)
    upload = images.jpeg(images.photo_of_photo(original, canvas, corners), quality=95)
    quad = [[x / canvas[0], y / canvas[1]] for x, y in corners]
    # when it is prepared
    photo = _ready(user, upload, quad=json.dumps(quad))
    # then the stored "before" is that upload straightened and fitted, nothing more
    decoded = imaging.decode(io.BytesIO(upload), margin=imaging.crop_margin(quad)).image
    straightened = imaging.fit_within(Image.fromarray(imaging.warp_quad(np.asarray(decoded), quad)))
    # (stored as a JPEG, like every prepared photo: compared as one, so only tones can differ)
    expected = np.asarray(Image.open(io.BytesIO(imaging.encode_jpeg(straightened))))
    before = _pixels(photo)
    assert before.shape == expected.shape
    assert imaging.ssim(expected, before) >= 0.99
    # its tones and cast are the person's: no levels, no white balance
    assert np.abs(before.reshape(-1, 3).mean(0) - expected.reshape(-1, 3).mean(0)).max() < 2
    assert np.abs(before.astype(int) - imaging.enhance(expected).astype(int)).mean() > 5


def test_a_clear_border_is_detected_applied_and_recorded(user):
    original = images.photo((800, 600))
    corners, canvas = [(180, 90), (1010, 140), (960, 760), (150, 700)], (1200, 860)
    photo = _ready(user, images.jpeg(images.photo_of_photo(original, canvas, corners), quality=95))
    assert photo.quad_source == QuadSource.AUTO
    assert photo.quad_confidence >= imaging.BORDER_CONFIDENCE_MIN
    assert np.abs(np.array(photo.quad) * canvas - np.array(corners)).max() < 25


def test_a_frame_without_a_border_is_not_cropped(user):
    photo = _ready(user, images.jpeg(images.photo((1024, 768))))
    assert photo.quad_source == QuadSource.NONE
    assert (photo.width, photo.height) == (960, 720)


def test_grayscale_files_and_gray_pixels_set_is_grayscale(user):
    assert _ready(user, images.gray_jpeg()).is_grayscale is True
    assert _ready(user, images.png16()).is_grayscale is True
    assert _ready(user, images.jpeg(images.gray_photo().convert("RGB"))).is_grayscale is True
    assert _ready(user, images.jpeg()).is_grayscale is False


def test_transparency_is_flattened_on_white(user):
    decoded = np.asarray(imaging.decode(io.BytesIO(images.rgba_png())).image)
    assert decoded[5, 5].tolist() == [255, 255, 255]  # transparent: white, not black
    assert decoded[240, 320].tolist() == np.asarray(images.photo())[240, 320].tolist()  # opaque: the photo
    assert _ready(user, images.rgba_png()).status == PhotoStatus.READY


def test_animated_files_give_their_first_frame(user):
    first = np.asarray(images.photo())
    for content in (images.animated_webp(), images.animated_png()):
        ready = _pixels(_ready(user, content)).astype(np.int16)
        flipped = first[:, ::-1]
        assert np.abs(ready - first).mean() < np.abs(ready - flipped).mean() / 2


def test_cmyk_and_ycck_jpegs_give_the_same_colours(user):
    cmyk = _pixels(_ready(user, images.cmyk_jpeg())).astype(np.int16)
    ycck = _pixels(_ready(user, images.ycck_jpeg())).astype(np.int16)
    assert np.abs(cmyk - ycck).mean() < 4
    assert np.abs(cmyk - np.asarray(images.photo())).mean() < 20  # and both look like the photo


def test_wide_gamut_profiles_are_converted_to_srgb(user):
    content, profile = images.wide_gamut_jpeg()
    with Image.open(io.BytesIO(content)) as img:
        raw = np.asarray(img.convert("RGB")).astype(np.int16)
        p3 = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        expected = np.asarray(
            ImageCms.profileToProfile(img, p3, ImageCms.createProfile("sRGB"), outputMode="RGB")
        )
    decoded = np.asarray(imaging.decode(io.BytesIO(content)).image).astype(np.int16)
    assert np.abs(decoded - expected).mean() < 1  # converted with the file's own profile
    assert (decoded[..., 0] - raw[..., 0]).mean() > 3  # P3 numbers are redder in sRGB
    assert _ready(user, content).status == PhotoStatus.READY


def test_a_stored_file_that_is_not_an_image_is_rejected_without_leftovers(user, _isolated_media):
    # The S3 path stores first and checks later: the same rules then apply to the stored object.
    name = default_storage.save("originals/1/abc.upload", ContentFile(b"%PDF-1.4 not a photo"))
    photo = Photo.objects.create(owner=user, original=name, upload_completed=True)
    photo = photo_preprocess(photo_id=photo.pk)
    assert photo.status == PhotoStatus.REJECTED
    assert "JPEG, PNG, HEIC or WebP" in photo.error
    assert _files(_isolated_media) == []


def test_a_run_that_loses_the_race_leaves_no_surplus_files(user, _isolated_media, monkeypatch):
    # given a task delivered twice, the second run finishing while the first is still working
    photo = _upload(user, images.jpeg())
    real_prepare, calls = imaging.prepare, []

    def prepare_with_a_rival(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            photo_preprocess(photo_id=photo.pk)  # the duplicate delivery, run to the end
        return real_prepare(*args, **kwargs)

    monkeypatch.setattr(imaging, "prepare", prepare_with_a_rival)
    # when the first run finishes last
    result = photo_preprocess(photo_id=photo.pk)
    # then the photo keeps the rival's files and nothing else is stored
    assert result.status == PhotoStatus.READY
    assert len(_files(_isolated_media)) == 2


def test_a_storage_failure_midway_leaves_no_half_written_outputs(user, _isolated_media, monkeypatch):
    photo = _upload(user, images.jpeg())
    real_save, saves = FileSystemStorage.save, []

    def failing_save(storage, name, content, *args, **kwargs):
        saves.append(name)
        if len(saves) == 2:
            raise OSError("disk full")
        return real_save(storage, name, content, *args, **kwargs)

    monkeypatch.setattr(FileSystemStorage, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        photo_preprocess(photo_id=photo.pk)
    # only the original is left, for the task's retry
    assert [p.relative_to(_isolated_media).as_posix() for p in _files(_isolated_media)] == [
        photo.original.name
    ]


def test_a_heic_taken_sideways_is_turned_once(user):
    # pillow-heif stores the EXIF orientation as the HEIF rotation and reports 1 in EXIF:
    # the picture must come out upright, not rotated twice.
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    images.photo((640, 480)).save(buffer, "HEIF", exif=exif.tobytes(), quality=80)
    photo = _ready(user, buffer.getvalue())
    assert (photo.source_format, photo.width, photo.height) == ("HEIF", 480, 640)
