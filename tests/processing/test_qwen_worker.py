"""The worker's qwen backend with a real diffusers pipeline: tiny, randomly initialised
Qwen-Image-Edit components saved in the real model's layout and loaded by the worker's own
code, on CPU. Alone, behind the handler, and behind the local RunPod-compatible server.

A random model paints noise, so its result can never be lined up with the photo: the product
then reports ``alignment_failed`` (retryable, handled as a failed quality check). These tests
assert that path, and the aligned path with a stand-in for the model's drift."""

from __future__ import annotations

import threading
import time
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from processing.engines.base import EngineProgress, EngineRequest
from processing.engines.codec import encode_b64, resize_to
from processing.engines.runpod import RunPodEngine
from processing.quality import QualityCheckFailed
from processing.runpod_local import LocalRunPod
from processing.runpod_worker.align import AlignmentFailed
from processing.runpod_worker.backends import load_backend, model_size
from processing.runpod_worker.handler import handler
from processing.runpod_worker.pipeline import DEFAULT_QWEN_MODEL, PipelineSettings, PipelineSettingsError
from tests.processing.conftest import API_KEY
from tests.processing.test_handler import error_of, job
from tests.processing.tiny_qwen import TEST_PIXELS, TEST_STEPS, worker_env

pytestmark = pytest.mark.worker


@pytest.fixture(scope="module")
def photo(coffee: np.ndarray) -> np.ndarray:
    """A 3:2 photo, fitted small like the handler fits it to a job's cap."""
    return resize_to(coffee, (144, 96))


# --- settings -------------------------------------------------------------------------------


def test_the_default_settings_are_production_ones() -> None:
    settings = PipelineSettings.from_env({})

    assert settings.model == DEFAULT_QWEN_MODEL == "Qwen/Qwen-Image-Edit-2511"
    assert (settings.device, settings.dtype, settings.steps, settings.true_cfg_scale) == (
        "cuda",
        "bfloat16",
        40,
        4.0,
    )
    assert (settings.lora_path, settings.attention_backend, settings.vae_tiling, settings.compile) == (
        "",
        "",
        False,
        False,
    )
    assert settings.pixels == 1024 * 1024


@pytest.mark.parametrize(
    ("env", "mentions"),
    [
        ({"REKINDLE_MODEL_STEPS": "forty"}, "REKINDLE_MODEL_STEPS must be a whole number"),
        ({"REKINDLE_MODEL_STEPS": "0"}, "REKINDLE_MODEL_STEPS must be between 1 and 200"),
        ({"REKINDLE_DTYPE": "int8"}, "REKINDLE_DTYPE must be one of bfloat16, float16, float32"),
        ({"REKINDLE_TRUE_CFG_SCALE": "0.5"}, "REKINDLE_TRUE_CFG_SCALE must be between"),
        ({"REKINDLE_VAE_TILING": "maybe"}, "REKINDLE_VAE_TILING must be 1 or 0"),
    ],
)
def test_a_bad_setting_is_refused_with_what_is_wrong(env: dict[str, str], mentions: str) -> None:
    with pytest.raises(PipelineSettingsError, match=mentions):
        PipelineSettings.from_env(env)


def test_a_model_path_without_the_weights_is_refused_before_any_download(tmp_path: Path) -> None:
    with pytest.raises(PipelineSettingsError, match="must be a folder with the diffusers weights"):
        load_backend("qwen", settings=PipelineSettings.from_env(worker_env(tmp_path / "missing")))


# --- the backend alone ----------------------------------------------------------------------


def test_the_pipeline_runs_at_the_working_size_and_reports_every_step(qwen_backend, photo) -> None:
    steps: list[tuple[int, int]] = []

    generated, seconds = qwen_backend.generate(
        [photo],
        instruction="Restore the old photo.",
        seed=7,
        progress=lambda step, n: steps.append((step, n)),
    )

    assert (generated.shape[1], generated.shape[0]) == model_size(144, 96, TEST_PIXELS) == (96, 64)
    assert generated.dtype == np.uint8 and generated.shape[2] == 3
    assert steps == [(n, TEST_STEPS) for n in range(1, TEST_STEPS + 1)]
    assert seconds > 0


def test_the_same_seed_gives_the_same_picture(qwen_backend, photo) -> None:
    first, _ = qwen_backend.generate([photo], instruction="Restore the old photo.", seed=3)
    again, _ = qwen_backend.generate([photo], instruction="Restore the old photo.", seed=3)
    other, _ = qwen_backend.generate([photo], instruction="Restore the old photo.", seed=4)

    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_two_input_images_go_through_and_the_first_sets_the_shape(qwen_backend, photo, astronaut) -> None:
    second = resize_to(astronaut, (80, 80))

    generated, _ = qwen_backend.generate([photo, second], instruction="Put both in one photo.", seed=1)
    alone, _ = qwen_backend.generate([photo], instruction="Put both in one photo.", seed=1)

    assert (generated.shape[1], generated.shape[0]) == model_size(144, 96, TEST_PIXELS)
    assert not np.array_equal(generated, alone)  # the second picture reached the model


def test_a_random_models_result_cannot_be_lined_up_and_says_so(qwen_backend, photo) -> None:
    with pytest.raises(AlignmentFailed):
        qwen_backend.run(photo, kind="restore", instruction="Restore the old photo.", seed=7)


def test_a_drifted_result_comes_back_lined_up_at_the_photos_size(qwen_backend, photo, monkeypatch) -> None:
    import cv2

    def drifted(images: list[np.ndarray], **kwargs: object) -> tuple[np.ndarray, float]:
        # What a good model does: the same picture, a little zoomed and shifted, at its own size.
        source = images[0]
        h, w = source.shape[:2]
        warp = cv2.getRotationMatrix2D((w / 2, h / 2), 0.0, 1.04)
        warp[:, 2] += (2.0, 1.5)
        return cv2.resize(cv2.warpAffine(source, warp, (w, h), borderMode=cv2.BORDER_REFLECT), (96, 64)), 0.5

    monkeypatch.setattr(qwen_backend, "generate", drifted)

    output = qwen_backend.run(photo, kind="restore", instruction="Restore the old photo.", seed=7)

    assert output.image.shape == photo.shape
    assert output.model == str(qwen_backend.settings.model)
    inner = (slice(8, -8), slice(8, -8))
    assert np.abs(output.image[inner].astype(int) - photo[inner].astype(int)).mean() < 12


def test_warming_up_runs_one_short_call(qwen_backend) -> None:
    assert qwen_backend.warm_up() > 0
    assert qwen_backend.steps == TEST_STEPS


# --- a LoRA made in code ----------------------------------------------------------------------


def test_a_lora_is_loaded_and_fused_by_the_workers_loading_code(tiny_qwen, qwen_backend, photo) -> None:
    with_lora = load_backend(
        "qwen",
        settings=PipelineSettings.from_env(
            worker_env(tiny_qwen / "model", REKINDLE_LORA_PATH=str(tiny_qwen / "lora"))
        ),
    )

    base_q = qwen_backend.pipeline.transformer.transformer_blocks[0].attn.to_q.weight
    lora_q = with_lora.pipeline.transformer.transformer_blocks[0].attn.to_q.weight
    assert not np.allclose(base_q.detach().numpy(), lora_q.detach().numpy())
    assert not with_lora.pipeline.get_list_adapters()  # fused into the weights, adapter unloaded
    plain, _ = qwen_backend.generate([photo], instruction="Restore the old photo.", seed=2)
    changed, _ = with_lora.generate([photo], instruction="Restore the old photo.", seed=2)
    assert changed.shape == plain.shape
    assert not np.array_equal(changed, plain)


# --- behind the handler -----------------------------------------------------------------------


def test_the_handler_runs_the_pipeline_reports_progress_and_the_alignment_failure(
    qwen_backend, coffee
) -> None:
    updates: list[dict] = []

    output = handler(
        job(kind="restore_colourize", image_b64=encode_b64(coffee), max_size=[144, 96], seed=5),
        backend=qwen_backend,
        progress_update=lambda job, data: updates.append({"job": job["id"], **data}),
    )

    error = error_of(output)
    assert error["code"] == "alignment_failed" and error["retryable"] is True
    assert updates == [
        {"job": "job-1", "stage": "restore_colourize", "step": n, "steps": TEST_STEPS}
        for n in range(1, TEST_STEPS + 1)
    ]


def test_the_handler_passes_extra_images_to_the_model(qwen_backend, astronaut, coffee, monkeypatch) -> None:
    seen: list[list[tuple[int, ...]]] = []
    generate = qwen_backend.generate

    def spy(images: list[np.ndarray], **kwargs: object) -> tuple[np.ndarray, float]:
        seen.append([image.shape for image in images])
        return generate(images, **kwargs)

    monkeypatch.setattr(qwen_backend, "generate", spy)

    output = handler(
        job(
            kind="restore",
            image_b64=encode_b64(coffee),
            extra_images_b64=[encode_b64(astronaut)],
            max_size=[144, 96],
        ),
        backend=qwen_backend,
    )

    assert error_of(output)["code"] == "alignment_failed"
    assert seen == [[(96, 144, 3), astronaut.shape]]


# --- behind the local RunPod-compatible server -----------------------------------------------


def test_the_local_server_runs_the_qwen_handler_and_shows_progress_while_it_runs(
    qwen_backend, astronaut
) -> None:
    reached, release = threading.Event(), threading.Event()

    def paused_at_step_two(job: dict, progress_update) -> dict:
        def update(job: dict, data: dict) -> None:
            progress_update(job, data)
            if data["step"] == 2:
                reached.set()
                release.wait(30)

        return handler(job, backend=qwen_backend, progress_update=update)

    server = LocalRunPod(api_key=API_KEY, handler=paused_at_step_two).start()
    try:
        engine = RunPodEngine(api_key=API_KEY, endpoint_id="local", base_url=server.base_url)
        request = EngineRequest(image=astronaut, kind="restore", max_size=(144, 96), seed=3)
        external_id = engine.submit(request)
        assert reached.wait(60)

        assert engine.poll(external_id) is None
        assert engine.progress(external_id) == EngineProgress(step=2, steps=TEST_STEPS)
        release.set()
        deadline = time.monotonic() + 60
        with pytest.raises(QualityCheckFailed) as failed:
            while time.monotonic() < deadline:
                engine.poll(external_id)
                time.sleep(0.05)
    finally:
        release.set()
        server.stop()
    assert failed.value.code == "result_not_aligned"
    assert engine.progress(external_id) is None  # forgotten once the job is final


def test_the_local_server_runs_the_qwen_handler_via_runsync(qwen_backend, astronaut) -> None:
    import runpod

    server = LocalRunPod(api_key=API_KEY, handler=partial(handler, backend=qwen_backend)).start()
    try:
        endpoint = runpod.Endpoint("local", api_key=API_KEY)
        endpoint.rp_client.endpoint_url_base = server.base_url
        state = endpoint.rp_client.post(
            "local/runsync?wait=60000",
            {"input": {"kind": "restore", "image_b64": encode_b64(astronaut), "max_size": [144, 96]}},
        )
    finally:
        server.stop()
    assert state["status"] == "FAILED"
    assert '"alignment_failed"' in state["error"]
