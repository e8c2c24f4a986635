"""Our RunPod worker's handler, called the way RunPod calls it (local backend, no GPU)."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from processing.engines.base import Kind
from processing.engines.codec import decode_b64, decode_image, encode_b64
from processing.engines.prompts import INSTRUCTIONS, NOTE_HINTS_UNUSED, instruction_for
from processing.runpod_worker.align import AlignmentFailed
from processing.runpod_worker.backends import BackendOutput
from processing.runpod_worker.handler import handler
from processing.runpod_worker.schema import parse_error


def job(**fields: object) -> dict:
    return {"id": "job-1", "input": fields}


def error_of(output: dict) -> dict:
    assert set(output) == {"error"}
    parsed = parse_error(output["error"])
    assert parsed is not None
    return parsed


def test_a_valid_job_returns_the_result_as_base64(astronaut: np.ndarray) -> None:
    output = handler(job(kind="restore", image_b64=encode_b64(astronaut), max_size=[480, 270], seed=5))

    image = decode_b64(output["image_b64"])
    assert image.shape == (270, 270, 3)
    assert (output["width"], output["height"]) == (270, 270)
    assert output["backend"] == "local"
    assert output["gpu_seconds"] == 0.0
    assert output["seconds"] > 0


def test_the_photo_can_come_from_a_url_and_the_result_go_to_one(
    astronaut: np.ndarray, file_server, png_of
) -> None:
    file_server.files["/in.png"] = png_of(astronaut)

    output = handler(
        job(
            kind="restore_colourize",
            image_url=file_server.url("/in.png"),
            result_put_url=file_server.url("/out.png?signature=x"),
            result_get_url=file_server.url("/out.png"),
        )
    )

    assert output["image_url"] == file_server.url("/out.png")
    assert "image_b64" not in output
    assert decode_image(file_server.files["/out.png?signature=x"]).shape == astronaut.shape


def test_hints_on_a_restore_only_job_are_noted_as_unused(camera: np.ndarray) -> None:
    output = handler(job(kind="restore", image_b64=encode_b64(camera), hints="red roof"))

    assert NOTE_HINTS_UNUSED in output["notes"]


@pytest.mark.parametrize(
    ("fields", "mentions"),
    [
        ({"kind": "restore"}, "image_url or image_b64"),
        ({"kind": "restore", "image_b64": "AAAA", "image_url": "https://x/y.png"}, "exactly one"),
        ({"kind": "sharpen", "image_b64": "AAAA"}, "kind"),
        ({"kind": "restore", "image_b64": "AAAA", "colour": "red"}, "colour"),
        ({"kind": "restore", "image_b64": "AAAA", "max_size": [100, 4]}, "max_size"),
        ({"kind": "restore", "image_b64": "AAAA", "seed": -1}, "seed"),
        ({"kind": "restore", "image_url": "file:///etc/passwd"}, "image_url"),
        ({"kind": "restore", "image_b64": "AAAA", "result_put_url": "https://x/put"}, "result_get_url"),
        ({"kind": "restore", "image_b64": "AAAA", "hints": "x" * 1000}, "hints"),
    ],
)
def test_invalid_input_is_a_permanent_error_that_says_what_is_wrong(fields: dict, mentions: str) -> None:
    error = error_of(handler(job(**fields)))

    assert error["code"] == "bad_input"
    assert error["retryable"] is False
    assert mentions in str(error["message"])


def test_a_job_without_input_is_refused() -> None:
    assert error_of(handler({"id": "x"}))["code"] == "bad_input"


@pytest.mark.parametrize("payload", ["not base64!", base64.b64encode(b"plain text").decode()])
def test_data_that_is_not_an_image_is_a_permanent_error(payload: str) -> None:
    error = error_of(handler(job(kind="restore", image_b64=payload)))

    assert error["code"] == "bad_image"
    assert error["retryable"] is False


def test_an_unreachable_photo_url_is_retryable(file_server) -> None:
    error = error_of(handler(job(kind="restore", image_url=file_server.url("/missing.png"))))

    assert error["code"] == "download_failed"
    assert error["retryable"] is True


class Recording:
    """A unit-test backend that records what the handler asked of it."""

    name = "recording"
    model = "fake"

    def __init__(self, fail: Exception | None = None) -> None:
        self.fail = fail
        self.calls: list[dict] = []

    def run(self, image: np.ndarray, **kwargs: object) -> BackendOutput:
        self.calls.append({"shape": image.shape, **kwargs})
        if self.fail:
            raise self.fail
        return BackendOutput(image=image, gpu_seconds=1.5, model=self.model)


def test_the_backend_gets_the_kind_instruction_with_hints_and_the_fitted_photo(astronaut: np.ndarray) -> None:
    backend = Recording()

    output = handler(
        job(kind="colourize", image_b64=encode_b64(astronaut), max_size=[256, 256], hints="blue sky", seed=9),
        backend=backend,
    )

    call = backend.calls[0]
    assert call["shape"] == (256, 256, 3)
    assert call["instruction"] == instruction_for(Kind.COLOURIZE, "blue sky")
    assert "blue sky" in call["instruction"]
    assert call["seed"] == 9
    assert output["gpu_seconds"] == 1.5


def test_restore_and_colourize_uses_qwens_own_prompt() -> None:
    assert instruction_for("restore_colourize") == "Restore and colorize the photo."
    assert set(INSTRUCTIONS) == set(Kind)


def test_alignment_failure_is_reported_as_its_own_error(astronaut: np.ndarray) -> None:
    output = handler(
        job(kind="restore", image_b64=encode_b64(astronaut)), backend=Recording(AlignmentFailed())
    )

    assert error_of(output)["code"] == "alignment_failed"


def test_a_backend_crash_is_a_retryable_worker_error(astronaut: np.ndarray) -> None:
    output = handler(
        job(kind="restore", image_b64=encode_b64(astronaut)), backend=Recording(RuntimeError("OOM"))
    )

    error = error_of(output)
    assert error["code"] == "worker_error"
    assert error["retryable"] is True
    assert json.loads(output["error"])["message"]


def test_the_worker_imports_without_django_torch_or_diffusers() -> None:
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys\n"
        "for name in ('django', 'torch', 'diffusers'): sys.modules[name] = None\n"
        "import processing.runpod_worker.handler as h\n"
        "print(h.BACKEND.name)\n"
    )
    root = Path(__file__).resolve().parents[2]
    env = {"PATH": "/usr/bin:/bin", "REKINDLE_MODEL_BACKEND": "local"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "local"
