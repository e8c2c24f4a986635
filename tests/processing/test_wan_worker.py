"""The worker's wan backend with a real diffusers pipeline: a tiny, randomly initialised Wan 2.2
image-to-video model (A14B layout: two experts and boundary_ratio) saved in the real model's
layout and loaded by the worker's own code, on CPU. Alone, behind the handler (MP4 by base64 or
presigned PUT, the payload limit), behind the local RunPod-compatible server, and in a whole job.

A random model paints noise, so its video never starts from the photo: the whole job fails the
video quality check, is made once more and then fails with exactly one refund. The same protocol
with the local backend's living photo (a real video of the photo) succeeds end to end."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from django.core.files.storage import default_storage

from credits.models import CreditTransaction
from credits.selectors import credit_balance
from credits.services import credits_grant
from processing import services
from processing.engines.base import EngineRequest, Kind
from processing.engines.codec import encode_b64, resize_to
from processing.engines.disclosure import jpeg_is_ai_made
from processing.engines.runpod import RunPodEngine
from processing.engines.video import decode_mp4
from processing.models import Job, JobStatus
from processing.runpod_local import LocalRunPod
from processing.runpod_worker import handler as handler_module
from processing.runpod_worker.backends import load_backend
from processing.runpod_worker.handler import handler
from processing.runpod_worker.pipeline import PipelineSettingsError
from processing.runpod_worker.wan import DEFAULT_WAN_MODEL, WanSettings, wan_frame_count, working_size
from processing.services import job_create, job_run
from tests.processing.conftest import API_KEY
from tests.processing.test_handler import error_of, job
from tests.processing.test_jobs import ready_photo
from tests.processing.tiny_wan import TEST_FRAMES, TEST_STEPS, wan_env

pytestmark = pytest.mark.worker


@pytest.fixture(scope="module")
def photo(coffee: np.ndarray) -> np.ndarray:
    """A 3:2 photo, fitted small like the handler fits it to a job's cap (odd height on purpose)."""
    return resize_to(coffee, (96, 63))


# --- settings and sizes --------------------------------------------------------------------


def test_the_default_settings_are_production_ones_and_bad_values_are_refused() -> None:
    settings = WanSettings.from_env({})
    assert settings.model == DEFAULT_WAN_MODEL == "Wan-AI/Wan2.2-I2V-A14B-Diffusers"
    assert (settings.device, settings.dtype, settings.steps, settings.frames, settings.fps) == (
        "cuda",
        "bfloat16",
        40,
        81,
        16,
    )
    assert settings.guidance_scale_2 is None and not settings.cpu_offload and settings.lora_path == ""
    assert WanSettings.from_env({"REKINDLE_GUIDANCE_SCALE_2": "2.5"}).guidance_scale_2 == 2.5
    for bad in ({"REKINDLE_VIDEO_FRAMES": "0"}, {"REKINDLE_DTYPE": "int8"}, {"REKINDLE_MODEL_STEPS": "x"}):
        with pytest.raises(PipelineSettingsError):
            WanSettings.from_env(bad)


def test_wan_sizes_and_frame_counts() -> None:
    assert [wan_frame_count(n) for n in (1, 5, 6, 9, 80, 81)] == [1, 5, 9, 9, 81, 81]
    assert working_size(854, 480, 16) == (848, 480)
    assert working_size(1280, 720, 16) == (1280, 720)
    assert working_size(720, 1280, 32) == (704, 1280)


def test_a_folder_without_the_model_is_a_clear_error(tmp_path) -> None:
    from processing.runpod_worker.wan import WanBackend

    with pytest.raises(PipelineSettingsError, match=r"model_index\.json"):
        WanBackend(WanSettings.from_env(wan_env(tmp_path)))


# --- the backend ---------------------------------------------------------------------------


def test_the_tiny_pipeline_makes_an_mp4_at_the_photos_size_with_progress_per_step(wan_backend, photo):
    assert wan_backend.pipeline.transformer_2 is not None  # the A14B layout: two experts
    assert wan_backend.pipeline.config.boundary_ratio == 0.875
    steps: list[tuple[int, int]] = []
    output = wan_backend.run(
        photo,
        kind=Kind.ANIMATE,
        instruction="A short video.",
        seed=3,
        progress=lambda s, n: steps.append((s, n)),
    )
    assert steps == [(step, TEST_STEPS) for step in range(1, TEST_STEPS + 1)]
    video = decode_mp4(output.video)
    assert video.frames.shape == (TEST_FRAMES, 62, 96, 3)  # even sides, the photo's size
    assert (video.codec, video.pix_fmt, video.fps) == ("h264", "yuv420p", 16.0)
    assert video.ai_made
    assert output.image.shape == (62, 96, 3) and output.gpu_seconds > 0
    # Frame count from the request (the server's setting), not only the worker's default.
    longer = wan_backend.run(photo, kind=Kind.ANIMATE, instruction="x", seed=3, options={"frames": "6"})
    assert len(decode_mp4(longer.video).frames) == 6  # made as 9 (4k+1), the extra frames dropped


def test_the_same_seed_makes_the_same_video(wan_backend, photo):
    a = wan_backend.generate(photo, instruction="A short video.", seed=9, frames=TEST_FRAMES)[0]
    b = wan_backend.generate(photo, instruction="A short video.", seed=9, frames=TEST_FRAMES)[0]
    assert np.array_equal(a, b)


def test_a_few_step_lora_is_fused_into_both_experts(tiny_wan, tiny_wan_lora, wan_backend, photo):
    from processing.runpod_worker.wan import WanBackend

    with_lora = WanBackend(WanSettings.from_env(wan_env(tiny_wan, REKINDLE_LORA_PATH=str(tiny_wan_lora))))
    for expert in ("transformer", "transformer_2"):
        plain = getattr(wan_backend.pipeline, expert).blocks[0].attn1.to_q.weight
        fused = getattr(with_lora.pipeline, expert).blocks[0].attn1.to_q.weight
        assert not plain.equal(fused), expert  # the LoRA changed this expert's weights
    assert not any("lora" in name for name, _ in with_lora.pipeline.transformer.named_parameters())
    a = wan_backend.generate(photo, instruction="x", seed=1, frames=TEST_FRAMES)[0]
    b = with_lora.generate(photo, instruction="x", seed=1, frames=TEST_FRAMES)[0]
    assert not np.array_equal(a, b)


def test_load_backend_reads_the_wan_settings_from_the_environment(tiny_wan, monkeypatch):
    for key, value in wan_env(tiny_wan).items():
        monkeypatch.setenv(key, value)
    backend = load_backend("wan")
    assert backend.name == "wan" and backend.kinds == frozenset({Kind.ANIMATE})


# --- behind the handler --------------------------------------------------------------------


def _handler_on(backend):
    def run(job: dict, progress_update=None) -> dict:
        return handler(job, backend=backend, progress_update=progress_update)

    return run


def _animate(photo: np.ndarray, **more: object) -> dict:
    return job(
        kind="animate",
        image_b64=encode_b64(photo),
        max_size=[96, 64],
        seed=4,
        options={"preset": "smile", "frames": str(TEST_FRAMES), "fps": "16"},
        **more,
    )


def test_the_handler_returns_the_video_and_poster_as_base64_when_small(wan_backend, photo):
    output = handler(_animate(photo), backend=wan_backend)
    assert "error" not in output, output
    video = decode_mp4(__import__("base64").b64decode(output["video_b64"]))
    assert len(video.frames) == TEST_FRAMES and video.size == (output["width"], output["height"]) == (96, 62)
    assert output["image_b64"] and output["backend"] == "wan" and output["video_format"] == "mp4"


def test_the_handler_uploads_the_video_to_a_presigned_url(wan_backend, photo, file_server):
    output = handler(
        _animate(
            photo, result_put_url=file_server.url("/put/v.mp4"), result_get_url=file_server.url("/get/v.mp4")
        ),
        backend=wan_backend,
    )
    assert output["video_url"] == file_server.url("/get/v.mp4") and "video_b64" not in output
    assert len(decode_mp4(file_server.files["/put/v.mp4"]).frames) == TEST_FRAMES


def test_a_video_too_large_for_the_payload_without_storage_is_refused_honestly(
    wan_backend, photo, monkeypatch
):
    monkeypatch.setattr(handler_module, "MAX_B64_CHARS", 1000)
    error = error_of(handler(_animate(photo), backend=wan_backend))
    assert error["code"] == "result_too_large" and not error["retryable"]
    assert "file storage" in error["message"]


def test_a_worker_asked_for_a_kind_its_model_cannot_do_says_so(wan_backend, photo):
    error = error_of(handler(job(kind="restore", image_b64=encode_b64(photo)), backend=wan_backend))
    assert error["code"] == "wrong_worker" and not error["retryable"]


def test_the_client_gets_the_video_over_the_runpod_protocol(wan_backend, photo):
    server = LocalRunPod(
        api_key=API_KEY, handler=lambda j, progress_update=None: handler(j, backend=wan_backend)
    )
    server.start()
    try:
        engine = RunPodEngine(api_key=API_KEY, endpoint_id="local", base_url=server.base_url)
        request = EngineRequest(
            image=photo, kind="animate", max_size=(96, 64), options={"preset": "push_in", "frames": "5"}
        )
        result = engine.run(request)
        sent = next(iter(server.jobs.values())).input
    finally:
        server.stop()
    assert sent["options"] == {"preset": "push_in", "frames": "5"}
    assert "The camera moves slowly" in sent["instruction"]
    assert len(decode_mp4(result.video).frames) == 5 and result.image.shape == (62, 96, 3)


def test_videos_go_to_their_own_endpoint_when_one_is_set():
    engine = RunPodEngine(api_key=API_KEY, endpoint_id="images", video_endpoint_id="videos")
    assert engine._endpoint_for(Kind.ANIMATE) == "videos" and engine._endpoint_for(Kind.RESTORE) == "images"
    assert engine._split("videos:abc-1") == ("videos", "abc-1")
    assert engine._split("abc-1") == ("images", "abc-1")


# --- whole jobs ----------------------------------------------------------------------------


@pytest.fixture
def runpod_job_settings(settings, _isolated_media):
    settings.ENGINE = "runpod"
    settings.RUNPOD_API_KEY = API_KEY
    settings.RUNPOD_ENDPOINT_ID = "local"
    settings.VIDEO_FRAMES = TEST_FRAMES
    settings.JOB_SIZE_CAP_FREE = (128, 96)  # tiny frames: the pipeline runs on CPU
    settings.JOB_POLL_INTERVAL_S = 0.05
    settings.JOB_POLL_INTERVAL_MAX_S = 0.2
    return settings


def _animate_job(user) -> Job:
    credits_grant(user=user, amount=20, key=f"wan-{user.pk}", reason="test")
    return job_create(user=user, kind="animate", photo_id=ready_photo(user).pk, options={"preset": "smile"})


@pytest.mark.django_db
def test_a_whole_job_on_the_tiny_wan_model_fails_its_check_retries_once_and_refunds_once(
    user, runpod_job_settings, wan_backend, monkeypatch
):
    monkeypatch.setattr(services, "job_enqueue", lambda *, job, countdown=None: None)
    server = LocalRunPod(
        api_key=API_KEY, handler=lambda j, progress_update=None: handler(j, backend=wan_backend)
    )
    runpod_job_settings.RUNPOD_ENDPOINT_BASE_URL = server.start().base_url
    try:
        job = _animate_job(user)
        balance = credit_balance(user=user)
        job_run(job_id=job.pk)
        stats = server.stats()
    finally:
        server.stop()
    job.refresh_from_db()
    assert stats["submissions"] == 2  # the first video, then one more after the failed check
    assert job.status == JobStatus.FAILED
    assert job.error_code in {"result_not_same_photo", "result_chaotic", "result_frozen", "result_blank"}
    assert CreditTransaction.objects.filter(job_id=job.pk, kind="refund").count() == 1
    assert credit_balance(user=user) == balance + 8
    assert not job.result


@pytest.mark.django_db
def test_a_whole_job_over_the_runpod_protocol_stores_a_marked_video_with_its_gpu_cost(
    user, runpod_job_settings, monkeypatch
):
    """The worker's local backend (the living photo) makes a real video of the photo, so the
    job passes its check: MP4, poster and thumbnail stored, AI marker (engine runpod), cost."""
    monkeypatch.setattr(services, "job_enqueue", lambda *, job, countdown=None: None)
    server = LocalRunPod(api_key=API_KEY)
    runpod_job_settings.RUNPOD_ENDPOINT_BASE_URL = server.start().base_url
    try:
        job = _animate_job(user)
        job_run(job_id=job.pk)
    finally:
        server.stop()
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert job.engine == "runpod" and job.gpu_seconds > 0
    rate = Decimal(str(runpod_job_settings.RUNPOD_GPU_RATE_PER_SECOND))
    assert job.cost == (Decimal(str(job.gpu_seconds)) * rate).quantize(Decimal("0.0001"))
    with default_storage.open(job.result.name, "rb") as fh:
        video = decode_mp4(fh.read())
    assert len(video.frames) == TEST_FRAMES and video.size == (job.result_width, job.result_height)
    with default_storage.open(job.result_poster.name, "rb") as fh:
        assert jpeg_is_ai_made(fh.read())
