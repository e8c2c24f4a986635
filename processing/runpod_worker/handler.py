"""RunPod serverless handler for Rekindle: ``handler(job)`` takes ``{"id", "input"}`` and
returns the output dict, or ``{"error": ...}`` (see schema.error_output) for a job it cannot do.

The model backend is loaded once, when this module is imported (RunPod starts a worker, the
worker imports the handler, then serves many jobs). Run as a worker with
``python -u -m processing.runpod_worker.handler``.

Output: ``image_b64`` (PNG) or, when the input gave presigned result URLs, ``image_url``;
plus ``width``, ``height``, ``gpu_seconds``, ``seconds``, ``model``, ``backend``, ``notes``.
A video kind (animate) also returns the MP4: uploaded to ``result_put_url`` and named by
``video_url`` when the input gave presigned URLs (the normal case: a 5 s 720p MP4 is several
MB, too much for RunPod's payload limit as base64), otherwise as ``video_b64`` only while it
and the poster fit under that limit, else the job fails with ``result_too_large``; the poster
(first frame) always comes back as ``image_b64``.
While it runs, each denoising step is reported through ``progress_update(job, {"stage",
"step", "steps"})`` (RunPod's, or the local server's).
"""

from __future__ import annotations

import base64
import logging
import os
import time
from collections.abc import Callable
from typing import Any

import requests
from pydantic import ValidationError

from processing.engines import together
from processing.engines.base import EngineError, EngineRequest, Kind
from processing.engines.codec import (
    ImageDecodeError,
    decode_b64,
    decode_image,
    encode_b64,
    encode_png,
    resize_to_fit,
)
from processing.engines.prompts import NOTE_HINTS_UNUSED, instruction_for
from processing.runpod_worker.align import AlignmentFailed
from processing.runpod_worker.backends import Backend, Progress, load_backend
from processing.runpod_worker.schema import MAX_B64_CHARS, JobInput, error_output

logger = logging.getLogger(__name__)

# Photos are at most 50 MB when uploaded and much smaller after preprocessing.
MAX_DOWNLOAD_BYTES = 50 * 1024 * 1024
HTTP_TIMEOUT = (10, 60)

BACKEND: Backend = load_backend(os.environ.get("REKINDLE_MODEL_BACKEND", "local"))


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:5]:
        where = ".".join(str(p) for p in item.get("loc", ())) or "input"
        parts.append(f"{where}: {item.get('msg', 'invalid')}")
    return "Invalid input: " + "; ".join(parts)


def _download(url: str) -> bytes:
    with requests.get(url, timeout=HTTP_TIMEOUT, stream=True) as response:
        response.raise_for_status()
        chunks, total = [], 0
        for chunk in response.iter_content(chunk_size=1 << 16):
            total += len(chunk)
            if total > MAX_DOWNLOAD_BYTES:
                raise ValueError("image too large")
            chunks.append(chunk)
    return b"".join(chunks)


ProgressUpdate = Callable[[dict[str, Any], Any], None]


def _reporter(job: dict[str, Any], kind: Kind, progress_update: ProgressUpdate | None) -> Progress | None:
    """The backend's per-step callback: sends ``{"stage", "step", "steps"}`` the way RunPod
    takes progress (``runpod.serverless.progress_update(job, data)``; it shows as the job's
    ``output`` while IN_PROGRESS). A report that cannot be sent never fails the job."""
    if progress_update is None:
        return None

    def report(step: int, steps: int) -> None:
        try:
            progress_update(job, {"stage": kind.value, "step": step, "steps": steps})
        except Exception:
            logger.warning("progress update failed on job %s", job.get("id"), exc_info=True)

    return report


def handler(
    job: dict[str, Any], backend: Backend | None = None, progress_update: ProgressUpdate | None = None
) -> dict[str, Any]:
    """Run one job; never raises for anything a job can cause. ``progress_update`` is
    RunPod's (or the local server's) ``progress_update(job, data)``."""
    backend = backend or BACKEND
    started = time.perf_counter()
    raw = job.get("input") if isinstance(job, dict) else None
    if not isinstance(raw, dict):
        return error_output("bad_input", "Invalid input: the job has no input object.")
    try:
        params = JobInput.model_validate(raw)
    except ValidationError as exc:
        return error_output("bad_input", _describe(exc))

    try:
        if params.image_b64 is not None:
            image = decode_b64(params.image_b64)
        else:
            image = decode_image(_download(params.image_url or ""))
        extra_images = [decode_b64(extra) for extra in params.extra_images_b64]
    except ImageDecodeError:
        return error_output("bad_image", "The photo could not be read as an image.")
    except (requests.RequestException, ValueError) as exc:
        return error_output("download_failed", f"The photo could not be downloaded ({type(exc).__name__}).")

    try:
        request = EngineRequest(
            image=image, kind=Kind(params.kind), max_size=params.max_size, hints=params.hints,
            seed=params.seed, job_ref=params.job_ref, images=tuple(extra_images), options=params.options,
        )  # fmt: skip
    except EngineError as exc:
        return error_output("bad_image", exc.message)
    kinds = getattr(backend, "kinds", None)
    if kinds is not None and request.kind not in kinds:
        return error_output(
            "wrong_worker",
            f"This worker ({backend.name}) does not do “{request.kind.value}”; check the endpoint.",
        )
    reference = resize_to_fit(request.image, request.max_size)
    extra_images = list(request.images)
    # A new composition (bring together) has a size of its own (from the pictures' shapes and
    # the cap); the other kinds keep the photo's.
    out_size = (
        together.result_size([reference, *extra_images], request.max_size) if request.kind.composes else None
    )
    instruction = params.instruction or instruction_for(
        request.kind, request.hints, options=request.options, pictures=len(request.inputs)
    )

    try:
        output = backend.run(
            reference, kind=request.kind, instruction=instruction, seed=request.seed, hints=request.hints,
            progress=_reporter(job, request.kind, progress_update), extra_images=extra_images,
            **({"options": request.options} if request.options else {}),
            **({"out_size": out_size} if out_size is not None else {}),
        )  # fmt: skip
    except AlignmentFailed:
        return error_output("alignment_failed", "The restored picture could not be lined up with the photo.")
    except Exception:
        logger.exception("backend failed on job %s", job.get("id"))
        return error_output("worker_error", "The GPU worker failed while processing the photo.")

    notes = list(output.notes)
    if request.hints and not request.kind.colourizes:
        notes.append(NOTE_HINTS_UNUSED)
    result = {
        "width": int(output.image.shape[1]),
        "height": int(output.image.shape[0]),
        "gpu_seconds": round(output.gpu_seconds, 3),
        "model": output.model,
        "backend": backend.name,
        "notes": notes,
        "format": "png",
    }
    if output.video is not None:
        return _video_result(params, output, result, started)
    if params.result_put_url:
        try:
            response = requests.put(
                params.result_put_url, data=encode_png(output.image), headers={"Content-Type": "image/png"},
                timeout=HTTP_TIMEOUT,
            )  # fmt: skip
            response.raise_for_status()
        except requests.RequestException as exc:
            return error_output("upload_failed", f"The result could not be uploaded ({type(exc).__name__}).")
        result["image_url"] = params.result_get_url
    else:
        result["image_b64"] = encode_b64(output.image)
    result["seconds"] = round(time.perf_counter() - started, 3)
    return result


def _video_result(params: JobInput, output: Any, result: dict[str, Any], started: float) -> dict[str, Any]:
    """The output of a video kind: the MP4 by presigned URL (or base64 while it fits), the
    poster as base64."""
    poster = encode_b64(output.image)
    result.update(image_b64=poster, video_format="mp4", video_bytes=len(output.video))
    if params.result_put_url:
        try:
            response = requests.put(
                params.result_put_url, data=output.video, headers={"Content-Type": "video/mp4"},
                timeout=HTTP_TIMEOUT,
            )  # fmt: skip
            response.raise_for_status()
        except requests.RequestException as exc:
            return error_output("upload_failed", f"The video could not be uploaded ({type(exc).__name__}).")
        result["video_url"] = params.result_get_url
    else:
        encoded = base64.b64encode(output.video).decode("ascii")
        if len(encoded) + len(poster) > MAX_B64_CHARS:
            return error_output(
                "result_too_large",
                f"The video ({len(output.video) // 1024} KB) is too large to return without file storage; "
                "the server must send presigned result URLs (S3) for videos this size.",
            )
        result["video_b64"] = encoded
    result["seconds"] = round(time.perf_counter() - started, 3)
    return result


def main() -> None:  # pragma: no cover - runs inside the RunPod worker image
    import runpod

    logging.basicConfig(level=logging.INFO)
    warm_up = getattr(BACKEND, "warm_up", None)
    if os.environ.get("REKINDLE_WARMUP", "0") == "1" and warm_up is not None:
        logger.info("pipeline warmed up in %.1f s", warm_up())

    def runpod_handler(job: dict[str, Any]) -> dict[str, Any]:
        return handler(job, progress_update=runpod.serverless.progress_update)

    runpod.serverless.start({"handler": runpod_handler})


if __name__ == "__main__":  # pragma: no cover
    main()
