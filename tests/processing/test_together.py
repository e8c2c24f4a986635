"""Bring together (issue 16): two or three photos (or finished results) in one new picture.

The local stand-in, the instruction, the quality check (blank, a copy of an input, faces
missing → one retry → failed with one refund), job creation through the API with errors that
name the input, a whole job on the local engine, the result page, photo deletion, the data
export, moderation and two jobs racing for the same six credits.
"""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from PIL import Image
from skimage import data as skdata

from accounts import selectors as account_selectors
from credits.models import CreditTransaction
from credits.selectors import credit_balance
from credits.services import credits_grant
from photos.models import Photo
from photos.services import photo_delete, photo_preprocess, photo_upload
from processing import services
from processing.engines import together
from processing.engines.base import EngineRequest, EngineResult, Kind
from processing.engines.codec import resize_to
from processing.engines.local import LocalEngine
from processing.engines.prompts import TOGETHER_MAX_LENGTH, instruction_for
from processing.kinds import kind_spec
from processing.models import Job, JobInput, JobStatus
from processing.quality import QualityCheckFailed, structural_similarity
from processing.services import InputRef, job_create, job_run
from processing.together import COPY_CEILING, together_check
from tests.factories import UserFactory
from tests.photos import images

GRACE = "/usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg"


def astronaut() -> np.ndarray:
    return skdata.astronaut()


def grace() -> np.ndarray:
    return np.asarray(Image.open(GRACE).convert("RGB"))


@pytest.fixture(autouse=True)
def _no_enqueue(monkeypatch):
    """Jobs run by calling job_run here; the worker tests use the real queue."""
    monkeypatch.setattr(services, "job_enqueue", lambda *, job, countdown=None: None)


def upload(user, picture: np.ndarray | Image.Image, name: str = "p.jpg") -> Photo:
    img = picture if isinstance(picture, Image.Image) else Image.fromarray(picture)
    file = SimpleUploadedFile(name, images.jpeg(img), content_type="image/jpeg")
    photo = photo_upload(user=user, file=file, size=file.size, name=name)
    return photo_preprocess(photo_id=photo.pk)


def rich(user, credits: int = 20):
    credits_grant(user=user, amount=credits, key=f"setup-{user.pk}-{credits}", reason="setup")
    return user


def refunds(job: Job) -> int:
    return CreditTransaction.objects.filter(job_id=job.pk, kind="refund").count()


# --- the local stand-in and the instruction ------------------------------------------------


def test_result_size_is_about_a_megapixel_in_a_side_by_side_shape_fitted_to_the_cap():
    portrait, landscape = np.zeros((400, 300, 3), np.uint8), np.zeros((300, 400, 3), np.uint8)
    # Two 3:4 portraits side by side make 3:2; three landscapes are held at 2:1; both about 1 MP.
    assert together.result_size([portrait, portrait], (4096, 4096)) == (1248, 832)
    assert together.result_size([landscape] * 3, (4096, 4096)) == (1456, 720)
    assert together.result_size([portrait, portrait], (1280, 720)) == (1080, 720)
    assert together.result_size([landscape, landscape], (854, 480)) == (854, 422)


def test_stand_in_places_the_photos_side_by_side_on_a_neutral_background_with_soft_edges():
    a, b = astronaut(), grace()
    request = EngineRequest(image=a, images=(b,), kind="bring_together", max_size=(854, 480))
    result = LocalEngine().run(request)
    size = together.result_size([a, b], (854, 480))
    assert (result.image.shape[1], result.image.shape[0]) == size
    assert result.notes[0] == "Not AI: places your photos side by side."
    height, width = result.image.shape[:2]
    # The margins all round are the neutral background; the two faces are on the photos.
    margin = round(together.MARGIN * height)
    for band in (result.image[:, : margin - 1], result.image[: margin - 1], result.image[-margin + 1 :]):
        assert (band == together.BACKGROUND).all()
    assert together.count_faces(result.image) == 2
    # Soft edges: from the background into the left photo, no step larger than a gentle one.
    row = result.image[height // 2, : width // 4].astype(int).sum(axis=1)
    assert np.abs(np.diff(row[margin - 2 : margin + 12])).max() < 120


def test_stand_in_matches_the_photos_tones_and_makes_black_and_white_on_request():
    dark = (astronaut() * 0.4).astype(np.uint8)
    bright = np.clip(grace().astype(int) + 60, 0, 255).astype(np.uint8)
    before = [float(together._lab(x)[:, :, 0].mean()) for x in (dark, bright)]
    after = [float(together._lab(x)[:, :, 0].mean()) for x in together.match_tones([dark, bright])]
    assert abs(after[0] - after[1]) < 2 < abs(before[0] - before[1])
    grey = together.composite([dark, bright], (640, 320), colour=False)
    assert np.array_equal(grey[:, :, 0], grey[:, :, 1]) and np.array_equal(grey[:, :, 1], grey[:, :, 2])
    colour = together.composite([dark, bright], (640, 320), colour=True)
    assert not together.is_grey(colour)


def test_instruction_names_each_person_by_picture_in_plain_limited_text():
    text = instruction_for(
        Kind.BRING_TOGETHER, options={"preset": "sofa", "colour": "black_and_white"}, pictures=3
    )
    assert "the person in picture 1, the person in picture 2 and the person in picture 3" in text
    assert "sofa" in text and "black-and-white" in text
    own = instruction_for(
        "bring_together", options={"description": "on a beach\n\x00in 1950 " + "x" * 900}, pictures=2
    )
    assert "the person in picture 1 and the person in picture 2" in own and "on a beach in 1950" in own
    assert len(own) <= TOGETHER_MAX_LENGTH and "\x00" not in own and "\n" not in own
    assert "sofa" not in own  # the person's own words replace the preset


# --- the quality check ----------------------------------------------------------------------


def _check(image: np.ndarray, inputs: list[np.ndarray], size: tuple[int, int]) -> str | None:
    try:
        together_check(inputs, EngineResult(image=image, engine="test"), size)
    except QualityCheckFailed as exc:
        return exc.code
    return None


def test_quality_check_passes_a_new_picture_and_refuses_blank_copies_and_missing_faces():
    inputs = [astronaut(), grace()]
    size = together.result_size(inputs, (854, 480))
    composite = together.composite(inputs, size)
    scores = [structural_similarity(resize_to(x, size), composite) for x in inputs]
    copy_scores = [structural_similarity(resize_to(x, size), resize_to(x, size)) for x in inputs]
    print(f"SSIM composite vs inputs {scores}; a copy {copy_scores}; ceiling {COPY_CEILING}")
    assert _check(composite, inputs, size) is None
    assert _check(np.full((size[1], size[0], 3), 120, np.uint8), inputs, size) == "result_blank"
    assert _check(resize_to(inputs[1], size), inputs, size) == "result_copy_of_input"
    assert _check(resize_to(skdata.coffee(), size), inputs, size) == "result_faces_missing"
    one_face = together.composite([inputs[0], skdata.coffee()], size)
    assert _check(one_face, inputs, size) == "result_faces_missing"
    assert _check(composite[:-2], inputs, size) == "result_wrong_size"
    # Inputs without detectable faces ask for no faces.
    faceless = [skdata.coffee(), skdata.chelsea()]
    assert _check(together.composite(faceless, size), faceless, size) is None


# --- creating jobs ------------------------------------------------------------------------


@pytest.mark.django_db
def test_api_starts_a_bring_together_job_listing_its_inputs_and_charges_six(client):
    user = rich(UserFactory())
    first, second = upload(user, astronaut()), upload(user, grace())
    client.force_login(user)
    before = credit_balance(user=user)
    response = client.post(
        "/api/v1/jobs",
        {
            "kind": "bring_together",
            "photo_ids": [second.pk, first.pk],
            "setting": "garden",
            "colour": "black_and_white",
        },
        content_type="application/json",
    )
    assert response.status_code == 202, response.content
    body = response.json()
    assert [i["photo_id"] for i in body["inputs"]] == [second.pk, first.pk]
    assert [i["position"] for i in body["inputs"]] == [1, 2]
    assert all(i["thumbnail_url"] for i in body["inputs"])
    assert body["options"] == {"preset": "garden", "colour": "black_and_white"}
    assert body["photo_id"] == second.pk and body["credits_charged"] == 6
    assert credit_balance(user=user) == before - 6
    # The single-photo kinds keep their photo_id.
    single = client.post(
        "/api/v1/jobs", {"photo_id": first.pk, "kind": "restore"}, content_type="application/json"
    )
    assert single.status_code == 202 and [i["photo_id"] for i in single.json()["inputs"]] == [first.pk]


@pytest.mark.django_db
def test_another_persons_photo_in_photo_ids_is_404_and_nothing_is_charged(client):
    user, stranger = rich(UserFactory()), rich(UserFactory())
    mine, theirs = upload(user, astronaut()), upload(stranger, grace())
    client.force_login(user)
    before = credit_balance(user=user)
    response = client.post(
        "/api/v1/jobs",
        {"kind": "bring_together", "photo_ids": [mine.pk, theirs.pk]},
        content_type="application/json",
    )
    assert response.status_code == 404
    assert response.json()["message"] == "Picture 2: no such photo."
    assert credit_balance(user=user) == before
    assert not Job.objects.exists() and not JobInput.objects.exists()


@pytest.mark.django_db
def test_validation_errors_say_which_input_is_wrong_and_charge_nothing(client):
    user = rich(UserFactory())
    a, b, c, d = (upload(user, astronaut()) for _ in range(4))
    waiting = Photo.objects.create(owner=user, status="preprocessing", original_name="w.jpg")
    client.force_login(user)
    before = credit_balance(user=user)

    def post(**payload):
        return client.post(
            "/api/v1/jobs", {"kind": "bring_together", **payload}, content_type="application/json"
        )

    cases = [
        (post(photo_ids=[a.pk]), 422, "Choose at least 2 photos"),
        (post(photo_ids=[a.pk, b.pk, c.pk, d.pk]), 422, "Choose at most 3 photos"),
        (post(photo_ids=[a.pk, b.pk, a.pk]), 422, "Picture 3 is chosen twice"),
        (post(photo_ids=[a.pk, waiting.pk]), 409, "Picture 2 is not ready yet"),
        (post(photo_ids=[a.pk, b.pk], setting="moon"), 422, "Unknown choice “moon”"),
        (post(photo_ids=[a.pk, b.pk], colour="sepia"), 422, "Choose colour or black and white"),
        (post(photo_ids=[a.pk, b.pk], description="x" * 201), 422, "at most 200 characters"),
    ]
    for response, status, words in cases:
        assert response.status_code == status, (words, response.content)
        assert words in response.json()["message"], response.json()
    assert post(photo_ids=[a.pk, waiting.pk]).json()["details"]["input"] == 2
    assert credit_balance(user=user) == before and not Job.objects.exists()


@pytest.mark.django_db
def test_a_finished_result_can_be_an_input(user):
    rich(user)
    photo, other = upload(user, astronaut()), upload(user, grace())
    restored = job_create(user=user, photo_id=photo.pk, kind="restore")
    job_run(job_id=restored.pk)
    job = job_create(
        user=user, kind="bring_together", inputs=[InputRef(job_id=restored.pk), InputRef(photo_id=other.pk)]
    )
    rows = list(job.inputs.all())
    assert [(r.photo_id, r.source_job_id) for r in rows] == [(photo.pk, restored.pk), (other.pk, None)]
    job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error_message


@pytest.mark.django_db(transaction=True)
def test_two_bring_together_jobs_at_once_on_six_credits_one_is_charged_one_402():
    user = UserFactory()
    credits_grant(user=user, amount=6 - credit_balance(user=user), key="setup", reason="setup")
    first, second = upload(user, astronaut()), upload(user, grace())
    user.refresh_from_db()
    from django.test import Client

    statuses: list[int] = []
    barrier = threading.Barrier(2)

    def start() -> None:
        client = Client()
        client.force_login(user)
        barrier.wait()
        try:
            response = client.post(
                "/api/v1/jobs",
                {"kind": "bring_together", "photo_ids": [first.pk, second.pk]},
                content_type="application/json",
            )
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [202, 402]
    assert Job.objects.count() == 1 and credit_balance(user=user) == 0
    assert CreditTransaction.objects.filter(kind="charge").count() == 1


# --- running, results, deletion ------------------------------------------------------------


@pytest.mark.django_db
def test_a_whole_job_on_the_local_engine_and_its_result_page(client, _isolated_media, mailoutbox):
    user = rich(UserFactory())
    first, second = upload(user, astronaut(), "grandma.jpg"), upload(user, grace(), "grace.jpg")
    job = job_create(
        user=user, kind="bring_together", inputs=[InputRef(photo_id=first.pk), InputRef(photo_id=second.pk)]
    )
    job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert job.notes == ["Not AI: places your photos side by side."]
    assert (job.result_width, job.result_height) == together.result_size(
        [np.zeros((first.height, first.width, 3)), np.zeros((second.height, second.width, 3))], (854, 480)
    )
    assert job.download_name == "grandma-brought-together.jpg"
    assert "Your new picture is ready" in mailoutbox[-1].body and "Compare" not in mailoutbox[-1].body
    client.force_login(user)
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert 'id="job-inputs"' in page and page.count('alt="Picture ') == 2
    assert 'id="job-result"' in page and "data-compare" not in page  # no before/after slider
    assert "Download" in page and "Create a share link" in page
    library = client.get("/photos/").content.decode()
    assert 'data-badge="together"' in library


class _Returns:
    """An engine that returns what ``make(request)`` makes, counting calls."""

    name = "local"

    def __init__(self, make) -> None:
        self.make, self.calls = make, 0

    def run(self, request):
        self.calls += 1
        return EngineResult(image=self.make(request), engine="local")


def _size(request) -> tuple[int, int]:
    return together.result_size(list(request.inputs), request.max_size)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda r: np.full((_size(r)[1], _size(r)[0], 3), 200, np.uint8), "result_blank"),
        (lambda r: resize_to(r.images[0], _size(r)), "result_copy_of_input"),
        (lambda r: together.composite([skdata.coffee(), skdata.chelsea()], _size(r)), "result_faces_missing"),
    ],
    ids=["blank", "copy", "faces-missing"],
)
def test_a_failed_check_is_retried_once_then_the_job_fails_with_one_refund(user, monkeypatch, make, code):
    rich(user)
    first, second = upload(user, astronaut()), upload(user, grace())
    engine = _Returns(make)
    monkeypatch.setattr(services, "get_engine", lambda name: engine)
    before = credit_balance(user=user)
    job = job_create(
        user=user, kind="bring_together", inputs=[InputRef(photo_id=first.pk), InputRef(photo_id=second.pk)]
    )
    job_run(job_id=job.pk)
    job.refresh_from_db()
    assert engine.calls == 2
    assert job.status == JobStatus.FAILED and job.error_code == code
    assert refunds(job) == 1 and credit_balance(user=user) == before


@pytest.mark.django_db
def test_deleting_an_input_photo_keeps_the_result_and_drops_it_from_the_inputs(client, _isolated_media):
    user = rich(UserFactory())
    first, second, third = upload(user, astronaut()), upload(user, grace()), upload(user, astronaut())
    restore = job_create(user=user, photo_id=first.pk, kind="restore")
    job = job_create(
        user=user, kind="bring_together", inputs=[InputRef(photo_id=p.pk) for p in (first, second, third)]
    )
    job_run(job_id=job.pk)
    job.refresh_from_db()
    result = job.result.name
    photo_delete(user=user, photo_id=first.pk)
    job.refresh_from_db()
    assert not Job.objects.filter(pk=restore.pk).exists()  # a restore goes with its photo
    assert job.photo_id == second.pk and (_isolated_media / result).exists()
    assert [r.photo_id for r in job.inputs.all()] == [second.pk, third.pk]
    client.force_login(user)
    body = client.get(f"/api/v1/jobs/{job.pk}").json()
    assert [i["photo_id"] for i in body["inputs"]] == [second.pk, third.pk]
    photo_delete(user=user, photo_id=second.pk)
    photo_delete(user=user, photo_id=third.pk)
    job.refresh_from_db()
    assert job.photo_id is None and not job.inputs.exists() and (_isolated_media / result).exists()
    page = client.get(f"/jobs/{job.pk}/")
    assert page.status_code == 200 and 'id="job-result"' in page.content.decode()
    assert client.get(f"/api/v1/jobs/{job.pk}").json()["inputs"] == []
    # Account deletion still knows the result's files by name.
    from accounts.services import _user_file_names

    assert {job.result.name, job.result_thumbnail.name} <= set(_user_file_names(user))


@pytest.mark.django_db
def test_data_export_lists_the_inputs_of_each_job(user):
    rich(user)
    first, second = upload(user, astronaut()), upload(user, grace())
    single = job_create(user=user, photo_id=first.pk, kind="restore")
    job = job_create(
        user=user, kind="bring_together", inputs=[InputRef(photo_id=second.pk), InputRef(photo_id=first.pk)]
    )
    rows = {row["id"]: row for row in account_selectors.data_export_jobs(user=user)}
    assert rows[job.pk]["inputs"] == [
        {"position": 1, "photo": second.pk, "result_of_job": None},
        {"position": 2, "photo": first.pk, "result_of_job": None},
    ]
    assert rows[job.pk]["options"] == {"preset": "side_by_side", "colour": "colour"}
    assert rows[single.pk]["inputs"] == [{"position": 1, "photo": first.pk, "result_of_job": None}]
    json.dumps(rows)


@pytest.mark.django_db
def test_a_shared_result_is_reported_moderation_shows_every_input_and_removes_the_result_alone(
    admin_client, client, _isolated_media, django_capture_on_commit_callbacks
):
    from processing.moderation import report_remove_content, report_share
    from processing.sharing import share_create

    user = rich(UserFactory())
    photos = [upload(user, astronaut()), upload(user, grace()), upload(user, astronaut())]
    job = job_create(user=user, kind="bring_together", inputs=[InputRef(photo_id=p.pk) for p in photos])
    job_run(job_id=job.pk)
    job.refresh_from_db()
    link = share_create(user=user, job_id=job.pk)
    public = client.get(f"/s/{link.token}/").content.decode()
    assert "data-compare" not in public and "Brought together with Rekindle" in public
    report = report_share(token=link.token, reason="other", note="not ok")
    assert report.job_id == job.pk and report.photo_id is None
    page = admin_client.get(f"/admin/processing/report/{report.pk}/change/").content.decode()
    assert page.count("data-job-input") == 3
    assert (
        admin_client.get(f"/admin/processing/job/{job.pk}/change/").content.decode().count("data-job-input")
        == 3
    )
    staff = UserFactory(is_staff=True, is_superuser=True)
    result = job.result.name
    with django_capture_on_commit_callbacks(execute=True):
        report_remove_content(report_id=report.pk, actor=staff)
    assert not Job.objects.filter(pk=job.pk).exists()
    # The reported content is the new picture: it goes; the photos it was made from stay.
    assert Photo.objects.filter(pk__in=[p.pk for p in photos]).count() == 3
    assert not (_isolated_media / result).exists()
    assert client.get(f"/s/{link.token}/").status_code in (404, 410)


@pytest.mark.django_db
def test_only_the_local_engine_stands_in_and_the_page_says_so(client, settings):
    from processing.kinds import engine_stands_in

    assert engine_stands_in(kind="bring_together", engine="local")
    assert not engine_stands_in(kind="bring_together", engine="runpod")
    assert not engine_stands_in(kind="restore", engine="local")
    user = UserFactory()
    client.force_login(user)
    assert "not AI: it places your photos side by side" in client.get("/jobs/together/").content.decode()
    settings.ENGINE = "runpod"
    assert "not AI" not in client.get("/jobs/together/").content.decode()


def test_the_kind_is_described_once():
    spec = kind_spec("bring_together")
    assert spec.inputs == (2, 3) and spec.accepts_results and spec.result_outlives_inputs
    assert spec.price == 6 and spec.colour_choice and spec.presets[0].key == "side_by_side"


@pytest.mark.django_db
def test_the_choice_form_keeps_the_ticking_order_and_works_without_script(client):
    user = rich(UserFactory())
    first, second, third = upload(user, astronaut()), upload(user, grace()), upload(user, astronaut())
    stranger_photo = upload(rich(UserFactory()), grace())
    client.force_login(user)
    page = client.get("/jobs/together/").content.decode()
    for photo in (first, second, third):
        assert f'value="photo-{photo.pk}"' in page
    assert f'value="photo-{stranger_photo.pk}"' not in page
    detail = client.get(f"/photos/{second.pk}/").content.decode()
    assert f'href="/jobs/together/?pick=photo-{second.pk}"' in detail
    ticked = client.get(f"/jobs/together/?pick=photo-{second.pk}").content.decode()
    assert f'value="photo-{second.pk}" class="mt-1 h-5 w-5 shrink-0" checked' in ticked
    assert ticked.count(" checked data-together-pick") == 1
    picks = [f"photo-{p.pk}" for p in (first, second, third)]
    # The script's order wins when it names exactly the ticked boxes ...
    response = client.post(
        "/jobs/together/",
        {"pick": picks, "order": ",".join(reversed(picks)), "preset": "sofa", "colour": "colour"},
    )
    assert response.status_code == 302
    job = Job.objects.latest("pk")
    assert [r.photo_id for r in job.inputs.all()] == [third.pk, second.pk, first.pk]
    # ... and without it (or when it disagrees) the page's order stands.
    client.post("/jobs/together/", {"pick": picks[:2], "order": picks[2], "colour": "black_and_white"})
    job = Job.objects.latest("pk")
    assert [r.photo_id for r in job.inputs.all()] == [first.pk, second.pk]
    assert job.options == {"preset": "side_by_side", "colour": "black_and_white"}
    before = credit_balance(user=user)
    refused = client.post("/jobs/together/", {"pick": [picks[0], f"photo-{stranger_photo.pk}"]})
    assert refused.status_code == 400 and "Picture 2: no such photo." in refused.content.decode()
    one = client.post("/jobs/together/", {"pick": [picks[0]]})
    assert one.status_code == 400 and "Choose at least 2 photos" in one.content.decode()
    assert credit_balance(user=user) == before


@pytest.mark.django_db
def test_the_choice_page_says_what_is_missing_when_credits_are_short(client):
    user = UserFactory()  # 3 free credits
    upload(user, astronaut())
    client.force_login(user)
    page = client.get("/jobs/together/").content.decode()
    assert "Bring together costs <strong>6 credits</strong>" in page and "3 credits short" in page
    assert 'disabled aria-disabled="true" aria-describedby="start-help">Start' in page
