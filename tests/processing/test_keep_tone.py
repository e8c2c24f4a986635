"""The "before" is the person's photo; the gentle enhancement is the job's first step; a toned
(sepia) print keeps its tone when restored unless the person asks otherwise; the size a result
comes back at is said before spending (choice page) and per plan (plans page)."""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from credits.services import credits_adjust
from photos import imaging
from photos.selectors import photo_is_toned
from photos.services import photo_preprocess, photo_upload
from processing import services
from processing.engines import local
from processing.engines.aging import Aging, age_photo
from processing.engines.base import EngineRequest, EngineResult
from processing.engines.prompts import KEEP_TONE, instruction_for
from processing.engines.runpod import RunPodEngine
from processing.models import Job, JobStatus
from processing.services import job_create, job_run
from tests.photos import images

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_enqueue(monkeypatch):
    monkeypatch.setattr(services, "job_enqueue", lambda *, job, countdown=None: None)


def _ready(user, picture):
    upload = SimpleUploadedFile("p.jpg", images.jpeg(picture, quality=95), content_type="image/jpeg")
    photo = photo_upload(user=user, file=upload, size=upload.size, name="p.jpg")
    return photo_preprocess(photo_id=photo.pk)


def _hue(rgb: np.ndarray) -> tuple[float, float]:
    """(hue angle in degrees, cast strength) of a picture's mean colour in Lab."""
    lab = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float64)
    a, b = lab[:, 1].mean() - 128, lab[:, 2].mean() - 128
    return float(np.degrees(np.arctan2(b, a))), float(np.hypot(a, b))


# --- the engines ------------------------------------------------------------------------


def test_a_sepia_print_restored_with_keep_tone_keeps_its_hue_and_without_it_is_corrected():
    # given an old sepia print (grain, dust, scratches, lifted blacks; no extra yellowing)
    print_ = age_photo(np.asarray(images.sepia_photo()), seed=3, aging=Aging(cast=(1.0, 1.0, 1.0)))
    hue, cast = _hue(print_)
    engine = local.LocalEngine()
    # when restored keeping its tone, the repairs happen and the tone stays
    kept = engine.run(EngineRequest(image=print_, kind="restore", keep_tone=True)).image
    kept_hue, kept_cast = _hue(kept)
    assert abs(kept_hue - hue) < 5 and kept_cast >= 0.8 * cast
    assert imaging.is_toned(kept)
    # when restored without, the cast is corrected (the print comes back neutral)
    corrected = engine.run(EngineRequest(image=print_, kind="restore")).image
    assert _hue(corrected)[1] < 0.3 * cast


def test_the_generative_engine_is_told_to_keep_the_tone_only_when_asked():
    assert KEEP_TONE in instruction_for("restore", keep_tone=True)
    assert KEEP_TONE not in instruction_for("restore")
    assert KEEP_TONE not in instruction_for("restore_colourize", keep_tone=True)  # colour replaces tone
    engine = RunPodEngine(api_key="k", endpoint_id="e", base_url="http://127.0.0.1:9")
    image = np.asarray(images.sepia_photo((64, 48)))
    built = engine.build_input(EngineRequest(image=image, kind="restore", keep_tone=True))
    assert built["instruction"].endswith(KEEP_TONE)


# --- jobs -------------------------------------------------------------------------------


def test_keep_tone_defaults_on_for_a_toned_print_and_off_for_others(user, settings):
    sepia, colour = _ready(user, images.sepia_photo((800, 600))), _ready(user, images.photo((800, 600)))
    assert photo_is_toned(photo=sepia) and not photo_is_toned(photo=colour)
    assert job_create(user=user, photo_id=sepia.pk, kind="restore").keep_tone is True
    # the person's own answer stands
    settings.ENGINE = "runpod"  # an engine that colourizes, so colourizing kinds can be ordered
    credits_adjust(user=user, amount=20, reason="test", admin_user=user)
    assert job_create(user=user, photo_id=sepia.pk, kind="restore", keep_tone=False).keep_tone is False
    assert job_create(user=user, photo_id=colour.pk, kind="restore").keep_tone is False
    # colourizing replaces the tone: never kept
    assert job_create(user=user, photo_id=sepia.pk, kind="colourize", keep_tone=True).keep_tone is False


class _Spy:
    name = "local"

    def __init__(self) -> None:
        self.requests: list[EngineRequest] = []

    def run(self, request: EngineRequest) -> EngineResult:
        self.requests.append(request)
        return local.LocalEngine().run(request)


def test_the_enhancement_is_the_jobs_first_step_and_keeps_a_kept_tone(user, monkeypatch):
    spy = _Spy()
    monkeypatch.setattr(services, "get_engine", lambda name: spy)
    faded = _ready(user, images.faded_tinted_photo((800, 600)))
    credits_adjust(user=user, amount=2, reason="test", admin_user=user)
    job = job_create(user=user, photo_id=faded.pk, kind="restore", keep_tone=False)
    job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error_message
    stored = services.photo_processing_array(photo=faded, max_size=(job.max_width, job.max_height))
    # the engine got the photo with gentle levels and white balance, not the stored "before"
    request = spy.requests[0]
    assert request.keep_tone is False
    assert np.array_equal(request.image, imaging.enhance(stored))
    assert not np.array_equal(request.image, stored)
    # with the tone kept, the engine is told so and gets levels only (the cast stays)
    job = job_create(user=user, photo_id=faded.pk, kind="restore", keep_tone=True)
    job_run(job_id=job.pk)
    request = spy.requests[-1]
    assert request.keep_tone is True
    assert np.array_equal(request.image, imaging.enhance(stored, keep_tone=True))
    assert abs(_hue(request.image)[0] - _hue(stored)[0]) < 3


def test_api_takes_and_returns_keep_tone(signed_in_client, user):
    sepia = _ready(user, images.sepia_photo((800, 600)))
    response = signed_in_client.post(
        "/api/v1/jobs", {"photo_id": sepia.pk, "kind": "restore"}, content_type="application/json"
    )
    assert response.status_code == 202 and response.json()["keep_tone"] is True
    credits_adjust(user=user, amount=2, reason="test", admin_user=user)
    response = signed_in_client.post(
        "/api/v1/jobs",
        {"photo_id": sepia.pk, "kind": "restore", "keep_tone": False},
        content_type="application/json",
    )
    assert response.status_code == 202 and response.json()["keep_tone"] is False
    assert list(Job.objects.order_by("pk").values_list("keep_tone", flat=True)) == [True, False]


# --- pages ------------------------------------------------------------------------------


def _checkbox(html: str) -> str:
    match = re.search(r'<input type="checkbox" name="keep_tone"[^>]*>', html)
    assert match
    return match.group(0)


def test_choice_page_says_the_result_size_before_spending(signed_in_client, user):
    photo = _ready(user, images.photo((800, 600)))
    html = signed_in_client.get(reverse("processing:new", args=[photo.pk])).content.decode()
    text = " ".join(re.sub(r"<[^>]+>", " ", html).split())
    assert "This photo comes back at 640 × 480 pixels on your Free plan." in text
    assert "up to 854 × 480 on the Free plan; 1280 × 720 on paid plans" in text


def test_choice_page_ticks_keep_the_original_tone_for_a_toned_print_only(signed_in_client, user):
    sepia, colour = _ready(user, images.sepia_photo((800, 600))), _ready(user, images.photo((800, 600)))
    page = signed_in_client.get(reverse("processing:new", args=[sepia.pk])).content.decode()
    assert "checked" in _checkbox(page) and "Keep the original tone" in page
    page = signed_in_client.get(reverse("processing:new", args=[colour.pk])).content.decode()
    assert "checked" not in _checkbox(page)


@pytest.mark.parametrize(("posted", "kept"), [({"keep_tone": "on"}, True), ({}, False)])
def test_the_choice_pages_answer_is_stored_with_the_job(signed_in_client, user, posted, kept):
    sepia = _ready(user, images.sepia_photo((800, 600)))
    response = signed_in_client.post(
        reverse("processing:new", args=[sepia.pk]), {"kind": "restore", **posted}
    )
    assert response.status_code == 302
    assert Job.objects.get().keep_tone is kept


def test_plans_page_lists_the_result_size_of_each_plan(signed_in_client):
    html = signed_in_client.get(reverse("credits:page")).content.decode()
    sizes = dict(re.findall(r'data-plan-size="(\w+)">Results up to ([^<]+) pixels', html))
    assert sizes == {
        "free": "854 × 480",
        "remember": "1280 × 720",
        "cherish": "1280 × 720",
        "forever": "1280 × 720",
    }


def test_commands_take_the_jobs_first_step_with_its_keep_tone_default():
    from processing.kinds import job_first_step

    sepia = np.asarray(images.sepia_photo())
    # a toned print being restored keeps its tone by default: levels only, hue kept
    source, keep_tone = job_first_step(sepia, kind="restore")
    assert keep_tone is True
    assert np.array_equal(source, imaging.enhance(sepia, keep_tone=True))
    # colourizing never keeps the tone, and the person's answer wins otherwise
    assert job_first_step(sepia, kind="colourize")[1] is False
    assert job_first_step(sepia, kind="restore", keep_tone=False)[1] is False


def test_the_credits_history_names_a_job_in_words_with_the_photos_name(user):
    from credits.models import CreditTransaction

    job = job_create(user=user, photo_id=_ready(user, images.sepia_photo()).pk, kind="restore")

    charge = CreditTransaction.objects.get(job_id=job.pk)
    assert charge.reason == "Restore: p.jpg"
