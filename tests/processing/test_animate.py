"""Animation (kind "animate"): a short MP4 from a ready photo or a finished picture, through the
local engine's living photo; its video quality check; video results on every page that shows,
downloads, shares, exports or deletes results; bad input charges nothing."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
from django.core.files.storage import default_storage

from accounts.services import data_export_build, data_export_request
from credits.models import CreditTransaction
from credits.selectors import credit_balance
from credits.services import credits_grant
from photos.models import PhotoStatus
from photos.services import photo_delete
from processing import services
from processing.engines.base import EngineRequest, EngineResult, Kind
from processing.engines.disclosure import jpeg_is_ai_made
from processing.engines.living import living_frames
from processing.engines.local import LocalEngine
from processing.engines.prompts import ANIMATE_DESCRIPTION_MAX, ANIMATE_MOTIONS, instruction_for
from processing.engines.video import VideoDecodeError, decode_mp4, encode_mp4
from processing.models import Job, JobStatus
from processing.quality import QualityCheckFailed
from processing.services import InputRef, InvalidOption, PhotoNotReady, job_create, job_finish, job_run
from processing.sharing import share_create
from processing.video import video_quality_check
from rekindle.exceptions import NotFound
from tests.processing.test_jobs import ready_photo

FRAMES = 9


@pytest.fixture(autouse=True)
def _short_videos(settings, _isolated_media):
    """Nine frames instead of 81: the same code, a fraction of the time."""
    settings.VIDEO_FRAMES = FRAMES
    settings.VIDEO_FPS = 16


@pytest.fixture(autouse=True)
def _no_enqueue(monkeypatch):
    monkeypatch.setattr(services, "job_enqueue", lambda *, job, countdown=None: None)


@pytest.fixture
def rich_user(user):
    credits_grant(user=user, amount=30, key=f"test-{user.pk}", reason="test")
    return user


def _picture(seed: int = 0, size=(160, 240)) -> np.ndarray:
    """A real photo (scikit-image's bundled ones) at ``size``: a different one, or the same one
    flipped, for each seed."""
    import cv2
    from skimage import data

    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket(), data.immunohistochemistry()]
    photo = photos[seed % len(photos)]
    flips = seed // len(photos) % 4
    if flips:
        photo = cv2.flip(photo, flips - 2)
    return np.ascontiguousarray(cv2.resize(photo, (size[1], size[0]), interpolation=cv2.INTER_AREA))


def _refunds(job: Job) -> int:
    return CreditTransaction.objects.filter(job_id=job.pk, kind="refund").count()


def _restored(user) -> Job:
    job = job_create(user=user, photo_id=ready_photo(user).pk, kind="restore")
    job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error_message
    return job


# --- The instruction -----------------------------------------------------------------------


def test_the_instruction_says_the_chosen_motion_and_the_description_plainly():
    text = instruction_for(Kind.ANIMATE, options={"preset": "smile", "description": "She <b>waves</b>\n!"})
    assert ANIMATE_MOTIONS["smile"] in text
    assert "Motion: She b waves /b." in text  # markup and control characters gone, one line
    assert "<" not in text and "\n" not in text
    long = instruction_for(Kind.ANIMATE, options={"preset": "push_in", "description": "x" * 1000})
    assert (
        len(long)
        < len(instruction_for(Kind.ANIMATE, options={"preset": "push_in"})) + ANIMATE_DESCRIPTION_MAX + 20
    )
    # No preset given: the first (subtle life).
    assert ANIMATE_MOTIONS["subtle_life"] in instruction_for(Kind.ANIMATE)


# --- MP4 in and out ------------------------------------------------------------------------


def test_mp4_round_trip_keeps_frame_count_size_and_is_faststart_h264_with_the_ai_marker():
    frames = [np.roll(_picture(1), shift, axis=1) for shift in range(7)]
    data = encode_mp4(frames, fps=16, ai_made=True)
    assert data.index(b"moov") < data.index(b"mdat")  # faststart: the index comes first
    video = decode_mp4(data)
    assert video.frames.shape == (7, 160, 240, 3)
    assert (video.codec, video.pix_fmt, video.fps) == ("h264", "yuv420p", 16.0)
    assert video.ai_made
    assert not decode_mp4(encode_mp4(frames[:2])).ai_made
    # Odd sides lose a row/column so yuv420p can hold them.
    assert decode_mp4(encode_mp4([_picture(2, (33, 47))])).size == (46, 32)
    with pytest.raises(VideoDecodeError):
        decode_mp4(b"not a video at all")


def test_living_photo_starts_on_the_photo_and_moves_inside_it():
    image = _picture(3)
    frames = list(living_frames(image, preset="push_in", frames=9))
    assert len(frames) == 9
    assert np.array_equal(frames[0], image)  # the first frame is the photo itself
    assert all(f.shape == image.shape for f in frames)
    assert np.abs(frames[-1].astype(int) - image.astype(int)).mean() > 2  # the camera moved


def test_local_engine_animates_with_a_not_ai_note_and_no_ai_marker():
    request = EngineRequest(
        image=_picture(4, (301, 401)),
        kind="animate",
        max_size=(854, 480),
        options={"frames": "5", "fps": "16"},
    )
    result = LocalEngine().run(request)
    video = decode_mp4(result.video)
    assert len(video.frames) == 5 and video.size == (400, 300)
    assert result.image.shape == (300, 400, 3)
    assert not video.ai_made
    assert any("without AI" in note for note in result.notes)


# --- The video quality check ---------------------------------------------------------------


def test_video_check_passes_a_living_photo_and_names_each_failure():
    image = _picture(5)
    good = encode_mp4(living_frames(image, preset="push_in", frames=FRAMES))
    video_quality_check(image, good, (240, 160), frames=FRAMES)
    cases = {
        "result_frozen": (encode_mp4([image] * FRAMES), (240, 160), FRAMES),
        "result_wrong_size": (good, (320, 160), FRAMES),
        "result_wrong_length": (good, (240, 160), FRAMES + 4),
        "result_not_same_photo": (
            encode_mp4(living_frames(_picture(99), preset="push_in", frames=FRAMES)),
            (240, 160),
            FRAMES,
        ),
        "result_chaotic": (encode_mp4([_picture(i % 5) for i in range(FRAMES)]), (240, 160), FRAMES),
        "result_not_video": (b"\x00" * 100, (240, 160), FRAMES),
    }
    for code, (data, size, frames) in cases.items():
        source = image if code != "result_chaotic" else _picture(0)
        with pytest.raises(QualityCheckFailed) as failed:
            video_quality_check(source, data, size, frames=frames)
        assert failed.value.code == code, code


# --- Jobs ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_animate_this_makes_a_video_with_poster_and_thumbnail_for_8_credits(rich_user):
    source = _restored(rich_user)
    before = credit_balance(user=rich_user)
    job = job_create(
        user=rich_user, kind="animate", inputs=[InputRef(job_id=source.pk)], options={"preset": "push_in"}
    )
    assert job.credits_charged == 8 and credit_balance(user=rich_user) == before - 8
    assert job.options == {"preset": "push_in"}  # the frame count is a setting, not stored
    job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert job.result.name.endswith(".mp4")
    assert job.result_poster.name.endswith("-poster.jpg") and job.result_thumbnail
    with default_storage.open(job.result.name, "rb") as fh:
        video = decode_mp4(fh.read())
    assert len(video.frames) == FRAMES
    assert video.size == (job.result_width, job.result_height) == (source.result_width, source.result_height)
    assert job.download_name.endswith("-animated.mp4")
    with default_storage.open(job.result_poster.name, "rb") as fh:
        assert not jpeg_is_ai_made(fh.read())  # the local engine is not AI
    assert any("without AI" in note for note in job.notes)


@pytest.mark.django_db
def test_animate_a_ready_photo_through_the_choice_page(rich_user, client):
    client.force_login(rich_user)
    photo = ready_photo(rich_user)
    page = client.get(f"/jobs/new/{photo.pk}/")
    html = page.content.decode()
    assert 'value="animate"' in html and "Slow camera push-in" in html and 'name="description"' in html
    response = client.post(
        f"/jobs/new/{photo.pk}/", {"kind": "animate", "preset": "look_around", "description": "she turns"}
    )
    job = Job.objects.get(kind="animate")
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.pk}/"
    assert job.options == {"preset": "look_around", "description": "she turns"}
    assert job.photo_id == photo.pk and job.input_list()[0].source_job is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("options", "option"),
    [({"preset": "dance"}, "preset"), ({"description": "x" * (ANIMATE_DESCRIPTION_MAX + 1)}, "description")],
)
def test_bad_choices_are_refused_and_charge_nothing(rich_user, options, option):
    source = _restored(rich_user)
    balance = credit_balance(user=rich_user)
    with pytest.raises(InvalidOption) as refused:
        job_create(user=rich_user, kind="animate", inputs=[InputRef(job_id=source.pk)], options=options)
    assert refused.value.details["option"] == option
    assert credit_balance(user=rich_user) == balance
    assert not Job.objects.filter(kind="animate").exists()


@pytest.mark.django_db
def test_a_photo_not_ready_or_not_yours_is_refused_and_charges_nothing(rich_user, other_user, client):
    photo = ready_photo(rich_user)
    photo.status = PhotoStatus.PREPROCESSING
    photo.save(update_fields=["status"])
    balance = credit_balance(user=rich_user)
    with pytest.raises(PhotoNotReady):
        job_create(user=rich_user, kind="animate", photo_id=photo.pk)
    theirs = _restored(other_user)
    with pytest.raises(NotFound):
        job_create(user=rich_user, kind="animate", inputs=[InputRef(job_id=theirs.pk)])
    client.force_login(rich_user)
    assert client.get(f"/jobs/{theirs.pk}/animate/").status_code == 404
    assert client.post(f"/jobs/{theirs.pk}/animate/", {"preset": "smile"}).status_code == 404
    assert credit_balance(user=rich_user) == balance
    assert not Job.objects.filter(kind="animate").exists()


class _BadVideos:
    """An engine whose videos are always wrong in one way: frozen, the wrong size, or starting
    from another picture."""

    name = "local"

    def __init__(self, fault: str) -> None:
        self.fault = fault
        self.calls = 0

    def run(self, request):
        self.calls += 1
        image = request.image
        if self.fault == "unrelated":
            image = _picture(99, image.shape[:2])
        height, width = (side // 2 * 2 for side in image.shape[:2])
        image = image[:height, :width]
        if self.fault == "frozen":
            frames = [image] * FRAMES
        else:
            frames = list(living_frames(image, preset="push_in", frames=FRAMES))
        if self.fault == "wrong_size":
            frames = [frame[: height // 2, : width // 2] for frame in frames]
        return EngineResult(image=frames[0], engine="local", video=encode_mp4(frames))


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ("frozen", "result_frozen"),
        ("wrong_size", "result_wrong_size"),
        ("unrelated", "result_not_same_photo"),
    ],
)
def test_a_failing_video_is_made_again_once_then_fails_with_one_refund(rich_user, monkeypatch, fault, code):
    source = _restored(rich_user)
    balance = credit_balance(user=rich_user)
    engine = _BadVideos(fault)
    monkeypatch.setattr(services, "get_engine", lambda name: engine)
    job = job_create(user=rich_user, kind="animate", inputs=[InputRef(job_id=source.pk)])
    job_run(job_id=job.pk)
    job.refresh_from_db()
    assert engine.calls == 2
    assert job.status == JobStatus.FAILED and job.error_code == code
    assert "refunded" in job.error_message
    assert _refunds(job) == 1 and credit_balance(user=rich_user) == balance
    assert not job.result and not job.result_poster
    job_run(job_id=job.pk)
    assert _refunds(job) == 1


@pytest.mark.django_db
def test_an_ai_engines_results_carry_the_iptc_marker(rich_user):
    source = _restored(rich_user)
    job = job_create(user=rich_user, kind="animate", inputs=[InputRef(job_id=source.pk)])
    Job.objects.filter(pk=job.pk).update(engine="runpod", status=JobStatus.RUNNING)
    job.refresh_from_db()
    frames = list(living_frames(_picture(6), preset="push_in", frames=FRAMES))
    finished = job_finish(
        job=job,
        result=EngineResult(image=frames[0], engine="runpod", video=encode_mp4(frames, ai_made=True)),
        cpu_seconds=0.0,
    )
    assert finished is not None
    for name in (finished.result_poster.name, finished.result_thumbnail.name):
        with default_storage.open(name, "rb") as fh:
            assert jpeg_is_ai_made(fh.read()), name


# --- Pages, sharing, export, deletion ------------------------------------------------------


@pytest.fixture
def animated(rich_user) -> Job:
    source = _restored(rich_user)
    job = job_create(user=rich_user, kind="animate", inputs=[InputRef(job_id=source.pk)])
    job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error_message
    return job


@pytest.mark.django_db
def test_result_page_plays_the_video_and_offers_the_mp4(client, animated, other_user):
    client.force_login(animated.owner)
    html = client.get(f"/jobs/{animated.pk}/").content.decode()
    for attribute in ("<video", " muted", " loop", " playsinline", " controls", 'poster="/media/'):
        assert attribute in html, attribute
    assert "Download video (MP4)" in html
    assert "Animate this" not in html  # a video is not animated again
    source_html = client.get(f"/jobs/{animated.input_list()[0].source_job_id}/").content.decode()
    assert f'href="/jobs/{animated.input_list()[0].source_job_id}/animate/"' in source_html
    library = client.get("/photos/").content.decode()
    assert "data-video-badge" in library
    client.force_login(other_user)
    assert client.get(f"/jobs/{animated.pk}/").status_code == 404


@pytest.mark.django_db
def test_animate_page_says_price_balance_and_what_happens_before_spending(client, rich_user):
    source = _restored(rich_user)
    client.force_login(rich_user)
    balance = credit_balance(user=rich_user)
    html = client.get(f"/jobs/{source.pk}/animate/").content.decode()
    assert "8 credits" in html and f"{balance} credits" in html and "about 5 seconds" in html
    assert f"{balance - 8} credits left" in html
    assert credit_balance(user=rich_user) == balance
    response = client.post(f"/jobs/{source.pk}/animate/", {"preset": "smile"})
    assert response.status_code == 302
    assert credit_balance(user=rich_user) == balance - 8


@pytest.mark.django_db
def test_share_page_plays_the_video_with_open_graph_video_tags(client, animated):
    link = share_create(user=animated.owner, job_id=animated.pk)
    html = client.get(f"/s/{link.token}/").content.decode()
    assert "<video" in html and 'property="og:video"' in html and 'content="video/mp4"' in html
    assert 'content="video.other"' in html and "brought to life: a short video" in html
    assert "without AI" in html
    video = client.get(f"/s/{link.token}/video.mp4")
    assert video.status_code == 302
    served = client.get(video["Location"])
    assert served["Content-Type"] == "video/mp4"
    assert len(decode_mp4(b"".join(served.streaming_content)).frames) == FRAMES
    preview = client.get(f"/s/{link.token}/preview.jpg")
    assert preview.status_code == 302
    assert client.get(preview["Location"])["Content-Type"] == "image/jpeg"  # the poster frame


@pytest.mark.django_db
def test_export_includes_the_video_and_deleting_the_photo_removes_it(
    animated, django_capture_on_commit_callbacks
):
    export = data_export_request(user=animated.owner)
    export = data_export_build(export_id=export.pk)
    with (
        default_storage.open(export.file.name, "rb") as fh,
        zipfile.ZipFile(io.BytesIO(fh.read())) as archive,
    ):
        names = archive.namelist()
        assert f"results/{animated.pk}.mp4" in names
        jobs = json.loads(archive.read("jobs.json"))
        assert next(j for j in jobs if j["id"] == animated.pk)["result"] == f"results/{animated.pk}.mp4"
        assert len(decode_mp4(archive.read(f"results/{animated.pk}.mp4")).frames) == FRAMES
    files = animated.result_files
    assert len(files) == 3 and all(default_storage.exists(name) for name in files)
    with django_capture_on_commit_callbacks(execute=True):
        photo_delete(user=animated.owner, photo_id=animated.photo_id)
    assert not any(default_storage.exists(name) for name in files)


@pytest.mark.django_db
def test_the_api_animates_a_result_and_refuses_bad_input_without_charging(client, rich_user, other_user):
    source = _restored(rich_user)
    theirs = _restored(other_user)
    client.force_login(rich_user)
    balance = credit_balance(user=rich_user)

    def post(**payload):
        return client.post("/api/v1/jobs", {"kind": "animate", **payload}, content_type="application/json")

    refused = post(source_job_id=source.pk, options={"preset": "dance"})
    assert refused.status_code == 422 and refused.json()["code"] == "invalid_option"
    long = post(source_job_id=source.pk, options={"description": "x" * (ANIMATE_DESCRIPTION_MAX + 1)})
    assert long.status_code == 422 and long.json()["code"] == "invalid_option"
    assert post(source_job_id=theirs.pk).status_code == 404
    assert credit_balance(user=rich_user) == balance and not Job.objects.filter(kind="animate").exists()

    created = post(source_job_id=source.pk, options={"preset": "smile", "description": "a small smile"})
    assert created.status_code == 202, created.content
    body = created.json()
    assert body["kind"] == "animate" and body["credits_charged"] == 8 and body["result_type"] == "video"
    assert body["options"] == {"preset": "smile", "description": "a small smile"}
    job_run(job_id=body["id"])
    done = client.get(f"/api/v1/jobs/{body['id']}").json()
    assert done["status"] == "succeeded" and done["result_url"] and done["result_poster_url"]
    assert done["ai_made"] is False  # the local engine
    client.force_login(other_user)
    assert client.get(f"/api/v1/jobs/{body['id']}").status_code == 404


@pytest.mark.django_db
def test_cost_review_shows_animation_on_its_own_and_the_daily_limit_applies(rich_user):
    from decimal import Decimal

    from processing.selectors import cost_per_kind
    from processing.services import job_start, spend_limit_set

    source = _restored(rich_user)
    job = job_create(user=rich_user, kind="animate", inputs=[InputRef(job_id=source.pk)])
    job_run(job_id=job.pk)
    Job.objects.filter(pk=job.pk).update(gpu_seconds=120.0, cost=Decimal("0.0500"))
    rows = {row.kind: row for row in cost_per_kind()}
    assert rows["animate"].label == "Animate" and rows["animate"].total == Decimal("0.0500")
    assert rows["animate"].gpu_seconds == 120.0 and rows["restore"].jobs == 1

    spend_limit_set(group="free", daily_limit=Decimal("0"))
    paused = job_create(user=rich_user, kind="animate", inputs=[InputRef(job_id=source.pk)])
    assert job_start(job_id=paused.pk) is None
    paused.refresh_from_db()
    assert paused.status == JobStatus.QUEUED and paused.waiting_reason


@pytest.mark.django_db
def test_a_reported_video_is_removed_with_its_poster_and_share(
    animated, django_capture_on_commit_callbacks, client
):
    from processing.moderation import report_remove_content, report_share
    from tests.factories import UserFactory

    link = share_create(user=animated.owner, job_id=animated.pk)
    files = animated.result_files
    report = report_share(token=link.token, reason="illegal")
    with django_capture_on_commit_callbacks(execute=True):
        report_remove_content(report_id=report.pk, actor=UserFactory(is_staff=True, is_superuser=True))
    assert not Job.objects.filter(pk=animated.pk).exists()
    assert not any(default_storage.exists(name) for name in files)
    assert client.get(f"/s/{link.token}/video.mp4").status_code == 404


@pytest.mark.django_db
def test_ai_made_pictures_carry_the_marker_and_share_pages_say_so_in_words(rich_user, client):
    photo = ready_photo(rich_user)
    job = job_create(user=rich_user, kind="restore", photo_id=photo.pk)
    Job.objects.filter(pk=job.pk).update(engine="runpod", status=JobStatus.RUNNING)
    job.refresh_from_db()
    finished = job_finish(
        job=job, result=EngineResult(image=_picture(7, (300, 400)), engine="runpod"), cpu_seconds=0
    )
    for name in (finished.result.name, finished.result_thumbnail.name):
        with default_storage.open(name, "rb") as fh:
            assert jpeg_is_ai_made(fh.read()), name
    html = client.get(f"/s/{share_create(user=rich_user, job_id=job.pk).token}/").content.decode()
    assert "Restored with AI." in html and "without AI" not in html
    local = _restored(rich_user)
    with default_storage.open(local.result.name, "rb") as fh:
        assert not jpeg_is_ai_made(fh.read())
    html = client.get(f"/s/{share_create(user=rich_user, job_id=local.pk).token}/").content.decode()
    assert "Restored without AI" in html and "not AI" in html
