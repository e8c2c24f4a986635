"""Bring together on the GPU worker: the tiny Qwen-Image-Edit pipeline (random weights, CPU)
takes two or three pictures through the worker's own loading code, behind the handler, behind
the local RunPod-compatible server, and in a whole job run through the RunPod engine.

A random model paints noise: nothing to line up (a new picture is lined up with nothing), no
copy of an input and, with inputs that show no faces, no faces to find, so the job succeeds."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from PIL import Image

from credits.models import CreditTransaction
from credits.services import credits_grant
from processing.engines import together
from processing.engines.base import EngineRequest
from processing.engines.codec import decode_b64, encode_b64, resize_to, resize_to_fit
from processing.engines.prompts import instruction_for
from processing.engines.runpod import RunPodEngine
from processing.models import JobStatus
from processing.runpod_local import LocalRunPod
from processing.runpod_worker.backends import load_backend, model_size
from processing.runpod_worker.handler import handler
from processing.services import InputRef, job_create, job_run
from tests.factories import UserFactory
from tests.processing.conftest import API_KEY
from tests.processing.test_handler import error_of, job
from tests.processing.test_together import upload
from tests.processing.tiny_qwen import TEST_PIXELS

CAP = (144, 96)


def _spy(backend, monkeypatch) -> list[dict]:
    seen: list[dict] = []
    generate = backend.generate

    def spy(images, **kwargs):
        seen.append({"shapes": [image.shape for image in images], **kwargs})
        return generate(images, **kwargs)

    monkeypatch.setattr(backend, "generate", spy)
    return seen


@pytest.mark.worker
def test_the_handler_gives_the_tiny_pipeline_three_pictures_and_returns_a_new_picture(
    qwen_backend, coffee, astronaut, camera, monkeypatch
) -> None:
    seen = _spy(qwen_backend, monkeypatch)
    output = handler(
        job(
            kind="bring_together",
            image_b64=encode_b64(coffee),
            extra_images_b64=[encode_b64(astronaut), encode_b64(camera)],
            max_size=list(CAP),
            options={"preset": "garden", "colour": "colour"},
        ),
        backend=qwen_backend,
    )
    assert "error" not in output, output
    fitted = [resize_to_fit(image, CAP) for image in (coffee, astronaut, camera)]
    size = together.result_size(fitted, CAP)
    assert (output["width"], output["height"]) == size
    assert decode_b64(output["image_b64"]).shape == (size[1], size[0], 3)
    # All three pictures reached the model; it painted in the new picture's shape.
    assert seen[0]["shapes"] == [fitted[0].shape, astronaut.shape, camera.shape]
    assert seen[0]["shape"] == size
    assert "the person in picture 3" in seen[0]["instruction"] and "garden" in seen[0]["instruction"]
    assert model_size(*size, TEST_PIXELS)[0] > model_size(*size, TEST_PIXELS)[1]  # landscape


def test_the_handler_on_the_local_backend_places_the_pictures_side_by_side(coffee, astronaut) -> None:
    output = handler(
        job(
            kind="bring_together",
            image_b64=encode_b64(coffee),
            extra_images_b64=[encode_b64(astronaut)],
            max_size=[854, 480],
            options={"colour": "black_and_white"},
        ),
        backend=load_backend("local"),
    )
    image = decode_b64(output["image_b64"])
    assert (output["width"], output["height"]) == together.result_size([coffee, astronaut], (854, 480))
    assert output["notes"] == [together.NOTE_STAND_IN]
    assert np.array_equal(image[:, :, 0], image[:, :, 2])  # black and white, as asked


def test_bring_together_without_a_second_picture_is_bad_input(coffee) -> None:
    output = handler(job(kind="bring_together", image_b64=encode_b64(coffee)), backend=load_backend("local"))
    assert error_of(output)["code"] == "bad_input"
    assert "two or three pictures" in error_of(output)["message"]


def test_the_runpod_client_sends_every_picture_the_options_and_the_instruction(coffee, astronaut) -> None:
    engine = RunPodEngine(api_key=API_KEY, endpoint_id="local", base_url="http://127.0.0.1:9")
    request = EngineRequest(
        image=coffee, images=(astronaut, coffee[::-1].copy()), kind="bring_together", max_size=(854, 480),
        options={"preset": "sofa", "colour": "black_and_white"},
    )  # fmt: skip
    sent = engine.build_input(request)
    assert sent["kind"] == "bring_together" and len(sent["extra_images_b64"]) == 2
    assert np.array_equal(decode_b64(sent["extra_images_b64"][0]), astronaut)
    assert sent["options"] == {"preset": "sofa", "colour": "black_and_white"}
    assert sent["instruction"] == instruction_for("bring_together", options=request.options, pictures=3)


@pytest.mark.worker
@pytest.mark.django_db
def test_a_whole_job_runs_the_tiny_pipeline_through_the_local_runpod_server(
    qwen_backend, settings, monkeypatch, coffee, camera
) -> None:
    from processing import services

    monkeypatch.setattr(services, "job_enqueue", lambda *, job, countdown=None: None)
    seen = _spy(qwen_backend, monkeypatch)
    server = LocalRunPod(api_key=API_KEY, handler=partial(handler, backend=qwen_backend)).start()
    settings.ENGINE = "runpod"
    settings.RUNPOD_API_KEY, settings.RUNPOD_ENDPOINT_ID = API_KEY, "local"
    settings.RUNPOD_ENDPOINT_BASE_URL = server.base_url
    user = UserFactory()
    credits_grant(user=user, amount=10, key="setup", reason="setup")
    # Pictures without faces: the random model's noise has none either, and needs none.
    first = upload(user, resize_to(coffee, (600, 400)))
    second = upload(user, Image.fromarray(camera).convert("RGB"))
    try:
        inputs = [InputRef(photo_id=first.pk), InputRef(photo_id=second.pk)]
        job = job_create(user=user, kind="bring_together", inputs=inputs, options={"preset": "family_table"})
        job_run(job_id=job.pk)
    finally:
        server.stop()
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert len(seen) == 1 and len(seen[0]["shapes"]) == 2
    assert "family dinner table" in seen[0]["instruction"]
    assert (job.result_width, job.result_height) == seen[0]["shape"]
    assert job.engine == "runpod" and job.gpu_seconds > 0
    assert not CreditTransaction.objects.filter(job_id=job.pk, kind="refund").exists()
