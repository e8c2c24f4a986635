"""The RunPod engine: our serverless worker (processing/runpod_worker) on RunPod, reached only
through the ``runpod`` SDK over HTTP.

The work is split so a retried Celery task can resume instead of paying twice:
``submit()`` returns RunPod's job id (store it), ``poll(id)`` returns None while the job is
IN_QUEUE / IN_PROGRESS and the EngineResult when it is COMPLETED, ``cancel(id)`` stops it;
``progress(id)`` is the denoising step the worker last reported while it ran.
``run()`` does all three in one call, for the command line.

Errors: timeouts, connection errors, 408/429/5xx → TransientEngineError (``resubmit`` False:
poll the same id again later); TIMED_OUT, a FAILED job whose error is retryable, or a job
RunPod no longer knows (404) → TransientEngineError with ``resubmit`` True; bad input,
refused credentials, CANCELLED, a result URL outside our storage and RunPod (or one that
redirects) → PermanentEngineError; a result that is not an image or could
not be aligned → processing.quality.QualityCheckFailed (handled like a failed quality check).
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from processing.engines.base import (
    EngineProgress,
    EngineRequest,
    EngineResult,
    Kind,
    PermanentEngineError,
    TransientEngineError,
    retry_delay,
)
from processing.engines.codec import ImageDecodeError, decode_b64, decode_image, encode_png
from processing.engines.prompts import instruction_for
from processing.quality import QualityCheckFailed
from processing.runpod_worker.schema import MAX_B64_CHARS, parse_error

logger = logging.getLogger(__name__)

NAME = "runpod"
DEFAULT_BASE_URL = "https://api.runpod.ai/v2"
RUNNING = frozenset({"IN_QUEUE", "IN_PROGRESS"})
# Results larger than this are not photos we made.
MAX_RESULT_BYTES = 60 * 1024 * 1024

UNAVAILABLE = "The restoration service is busy or unreachable; we will try again shortly."
RETRY_JOB = "The restoration service could not finish this photo; we will try again."


class RunPodEngine:
    """Engine protocol implementation for our RunPod endpoint."""

    name = NAME
    performs = frozenset(Kind)
    uses_hints = True
    # A model makes its results: they carry the IPTC trained-algorithmic-media marker.
    generative = True

    def __init__(
        self,
        *,
        api_key: str,
        endpoint_id: str,
        base_url: str | None = None,
        request_timeout: float = 15.0,
        max_wait: float = 1800.0,
        result_origins: Iterable[str] = (),
        video_endpoint_id: str = "",
    ) -> None:
        if not api_key or not endpoint_id:
            raise PermanentEngineError(
                "The RunPod engine is not configured (RUNPOD_API_KEY and RUNPOD_ENDPOINT_ID).",
                code="engine_not_configured",
            )
        import runpod

        self.endpoint_id = endpoint_id
        # Videos (animate) run on their own endpoint when one is set: its workers load Wan 2.2
        # (REKINDLE_MODEL_BACKEND=wan), which does not fit next to Qwen-Image-Edit on one GPU.
        self.video_endpoint_id = video_endpoint_id
        self.request_timeout = request_timeout
        self.max_wait = max_wait
        self.endpoint = runpod.Endpoint(endpoint_id, api_key=api_key)
        # The last progress each running job reported (see progress()).
        self._progress: dict[str, EngineProgress] = {}
        client = self.endpoint.rp_client
        # Per instance, not runpod.endpoint_url_base: that global is read when the SDK client
        # is made and would make every endpoint in the process share one base URL.
        client.endpoint_url_base = (base_url or DEFAULT_BASE_URL).rstrip("/")
        # A result named by URL is fetched only from our storage or RunPod itself: a worker
        # (or whoever answers as one) must not make this server fetch from anywhere else.
        self.result_origins = frozenset(
            origin for url in (client.endpoint_url_base, *result_origins) if (origin := _origin(url))
        )
        # The SDK retries 408/429 up to five times with long sleeps, and only over http://.
        # Our Celery task owns retries (with backoff and jitter), so the SDK tries once, apart
        # from connection attempts that never reached the server.
        adapter = HTTPAdapter(
            max_retries=Retry(total=2, connect=2, read=0, status=0, redirect=0, backoff_factor=0.2)
        )
        client.rp_session.mount("http://", adapter)
        client.rp_session.mount("https://", adapter)

    @classmethod
    def from_settings(cls) -> RunPodEngine:
        """An engine configured from Django settings."""
        from django.conf import settings

        return cls(
            api_key=getattr(settings, "RUNPOD_API_KEY", ""),
            endpoint_id=getattr(settings, "RUNPOD_ENDPOINT_ID", ""),
            base_url=getattr(settings, "RUNPOD_ENDPOINT_BASE_URL", "") or None,
            result_origins=storage_origins(),
            video_endpoint_id=getattr(settings, "RUNPOD_VIDEO_ENDPOINT_ID", ""),
        )

    def _endpoint_for(self, kind: Kind) -> str:
        return self.video_endpoint_id if kind.makes_video and self.video_endpoint_id else self.endpoint_id

    def _split(self, external_id: str) -> tuple[str, str]:
        """(endpoint, RunPod job id) of an external id: a job on another endpoint than the main
        one is stored as "<endpoint>:<job id>"."""
        endpoint, sep, job_id = external_id.rpartition(":")
        return (endpoint, job_id) if sep and endpoint else (self.endpoint_id, external_id)

    # --- HTTP through the SDK ------------------------------------------------------------

    def _call(self, method: str, path: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        client = self.endpoint.rp_client
        try:
            if method == "GET":
                return client.get(path, timeout=self.request_timeout)
            return client.post(path, data, timeout=self.request_timeout)
        except RuntimeError as exc:  # the SDK's way of saying 401
            raise PermanentEngineError(
                "The restoration service refused our credentials.", code="engine_unauthorised"
            ) from exc
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            if status == 404:
                raise
            if status in (408, 429) or status >= 500:
                retry_after = _retry_after(exc.response)
                raise TransientEngineError(
                    UNAVAILABLE, code="engine_unavailable", retry_after=retry_after
                ) from exc
            raise PermanentEngineError(
                f"The restoration service rejected the request (HTTP {status}).", code="engine_rejected"
            ) from exc
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.RetryError) as exc:
            raise TransientEngineError(UNAVAILABLE, code="engine_unreachable") from exc
        except ValueError as exc:  # not JSON: a proxy's error page
            raise TransientEngineError(UNAVAILABLE, code="engine_bad_response") from exc

    # --- the three steps -----------------------------------------------------------------

    def build_input(
        self,
        request: EngineRequest,
        *,
        image_url: str | None = None,
        result_put_url: str | None = None,
        result_get_url: str | None = None,
    ) -> dict[str, Any]:
        """The worker's input (processing/runpod_worker/schema.py) for ``request``."""
        job_input: dict[str, Any] = {
            "kind": request.kind.value,
            "max_size": list(request.max_size),
            "instruction": instruction_for(
                request.kind,
                request.hints,
                keep_tone=request.keep_tone,
                options=request.options,
                pictures=len(request.inputs),
            ),
            "seed": request.seed,
            "job_ref": request.job_ref,
        }
        if request.options:
            job_input["options"] = dict(request.options)
        if request.hints:
            job_input["hints"] = request.hints
        if image_url:
            job_input["image_url"] = image_url
        else:
            encoded = base64.b64encode(encode_png(request.image)).decode("ascii")
            if len(encoded) > MAX_B64_CHARS:
                raise PermanentEngineError(
                    "The photo is too large to send without file storage.", code="engine_image_too_large"
                )
            job_input["image_b64"] = encoded
        if request.images:
            # Further pictures (bring together: pictures 2 and 3) always travel as base64.
            extra = [base64.b64encode(encode_png(image)).decode("ascii") for image in request.images]
            if len(job_input.get("image_b64", "")) + sum(len(e) for e in extra) > MAX_B64_CHARS:
                raise PermanentEngineError(
                    "The photos are too large to send together.", code="engine_image_too_large"
                )
            job_input["extra_images_b64"] = extra
        if request.options:
            job_input["options"] = dict(request.options)
        if result_put_url and result_get_url:
            job_input["result_put_url"] = result_put_url
            job_input["result_get_url"] = result_get_url
        return job_input

    def submit(
        self,
        request: EngineRequest,
        *,
        image_url: str | None = None,
        result_put_url: str | None = None,
        result_get_url: str | None = None,
    ) -> str:
        """Queue ``request`` on RunPod and return its job id (the external id to store).

        ``image_url`` is a presigned GET URL of the photo; without it the photo travels as
        base64 (only when small). ``result_put_url``/``result_get_url`` (presigned PUT and GET
        of one object) make the worker upload the result instead of returning base64.
        """
        job_input = self.build_input(
            request, image_url=image_url, result_put_url=result_put_url, result_get_url=result_get_url
        )
        endpoint_id = self._endpoint_for(request.kind)
        try:
            response = self._call("POST", f"{endpoint_id}/run", {"input": job_input})
        except requests.HTTPError as exc:
            raise PermanentEngineError(
                "The restoration endpoint does not exist.", code="engine_not_found"
            ) from exc
        external_id = response.get("id") if isinstance(response, dict) else None
        if not external_id:
            raise TransientEngineError(UNAVAILABLE, code="engine_bad_response")
        logger.info("runpod job %s submitted for %s", external_id, request.job_ref or "-")
        return str(external_id) if endpoint_id == self.endpoint_id else f"{endpoint_id}:{external_id}"

    def status(self, external_id: str) -> dict[str, Any]:
        """RunPod's raw status object for ``external_id``."""
        try:
            endpoint_id, job_id = self._split(external_id)
            return self._call("GET", f"{endpoint_id}/status/{job_id}")
        except requests.HTTPError as exc:
            raise TransientEngineError(RETRY_JOB, code="engine_job_lost", resubmit=True) from exc

    def poll(self, external_id: str) -> EngineResult | None:
        """None while the job waits or runs; its EngineResult once COMPLETED; raises otherwise."""
        state = self.status(external_id)
        status = state.get("status")
        if status in RUNNING:
            progress = parse_progress(state.get("output"))
            if progress is not None:
                self._progress[external_id] = progress
            return None
        self._progress.pop(external_id, None)
        if status == "COMPLETED":
            return self._result(state)
        if status == "FAILED":
            raise self._failure(state.get("error"))
        if status == "TIMED_OUT":
            raise TransientEngineError(
                "The restoration took too long and was stopped; we will try again.",
                code="engine_timed_out",
                resubmit=True,
            )
        if status == "CANCELLED":
            raise PermanentEngineError("The restoration was cancelled.", code="engine_cancelled")
        raise TransientEngineError(RETRY_JOB, code="engine_bad_response")

    def progress(self, external_id: str) -> EngineProgress | None:
        """The progress the worker last reported for a running job (seen by poll()), if any."""
        return self._progress.get(external_id)

    def cancel(self, external_id: str) -> None:
        """Ask RunPod to stop the job; a job it no longer knows counts as stopped."""
        try:
            endpoint_id, job_id = self._split(external_id)
            self._call("POST", f"{endpoint_id}/cancel/{job_id}")
        except requests.HTTPError:
            return

    def run(self, request: EngineRequest) -> EngineResult:
        """Submit and wait (polling with growing intervals) for the result."""
        external_id = self.submit(request)
        deadline = time.monotonic() + self.max_wait
        interval, failures = 0.5, 0
        while True:
            try:
                result = self.poll(external_id)
                failures = 0
            except TransientEngineError as exc:
                if exc.resubmit or failures >= 4:
                    raise
                result, failures = None, failures + 1
                interval = max(interval, retry_delay(failures, base=1.0, cap=30.0))
            if result is not None:
                return result
            if time.monotonic() > deadline:
                self.cancel(external_id)
                raise TransientEngineError(
                    "The restoration took too long; we will try again.",
                    code="engine_timed_out",
                    resubmit=True,
                )
            time.sleep(interval)
            interval = min(interval * 1.5, 5.0)

    # --- reading results -----------------------------------------------------------------

    def _failure(self, error: object) -> Exception:
        ours = parse_error(error)
        if ours is None:
            # RunPod's own report of a crashed handler (JSON with a traceback) or a plain string.
            return TransientEngineError(RETRY_JOB, code="engine_worker_crashed", resubmit=True)
        code, message = str(ours["code"]), str(ours["message"])
        if code == "alignment_failed":
            return QualityCheckFailed(message, code="result_not_aligned")
        if ours.get("retryable"):
            return TransientEngineError(message, code=f"engine_{code}", resubmit=True)
        return PermanentEngineError(message, code=f"engine_{code}")

    def _result(self, state: dict[str, Any]) -> EngineResult:
        output = state.get("output")
        if not isinstance(output, dict):
            raise QualityCheckFailed("The restoration service returned no image.", code="result_not_image")
        try:
            if isinstance(output.get("image_b64"), str):
                image = decode_b64(output["image_b64"])
            elif isinstance(output.get("image_url"), str):
                image = decode_image(self._download(output["image_url"]))
            else:
                raise QualityCheckFailed(
                    "The restoration service returned no image.", code="result_not_image"
                )
        except ImageDecodeError as exc:
            raise QualityCheckFailed("The result is not an image.", code="result_not_image") from exc
        execution = float(state.get("executionTime") or 0) / 1000
        usage = {
            "seconds": execution + float(state.get("delayTime") or 0) / 1000,
            # RunPod bills the worker's execution time, not just the model's share of it.
            "gpu_seconds": execution,
            "model_seconds": float(output.get("gpu_seconds") or 0.0),
            "queue_seconds": float(state.get("delayTime") or 0) / 1000,
        }
        notes = [str(n) for n in output.get("notes") or [] if isinstance(n, str)]
        return EngineResult(
            image=image,
            engine=NAME,
            usage=usage,
            notes=notes,
            model=str(output.get("model") or ""),
            video=self._video(output),
        )

    def _video(self, output: dict[str, Any]) -> bytes | None:
        """A video kind's MP4 (by URL from our storage, or base64), None when there is none;
        whether it plays is the server's video quality check's business."""
        try:
            if isinstance(output.get("video_url"), str):
                return self._download(output["video_url"])
            if isinstance(output.get("video_b64"), str):
                return base64.b64decode(output["video_b64"], validate=True)
        except (ValueError, binascii.Error) as exc:
            raise QualityCheckFailed("The video could not be read.", code="result_not_video") from exc
        return None

    def _download(self, url: str) -> bytes:
        if _origin(url) not in self.result_origins:
            logger.warning("engine result url refused", extra={"host": urlsplit(url).hostname or ""})
            raise PermanentEngineError(
                "The restoration service named a result we may not fetch.", code="engine_result_url_refused"
            )
        try:
            # No redirects: a redirect could lead anywhere, and presigned storage URLs have none.
            with requests.get(url, timeout=(10, 60), stream=True, allow_redirects=False) as response:
                if response.is_redirect:
                    raise PermanentEngineError(
                        "The restoration service's result redirected elsewhere.",
                        code="engine_result_url_refused",
                    )
                response.raise_for_status()
                chunks, total = [], 0
                for chunk in response.iter_content(chunk_size=1 << 16):
                    total += len(chunk)
                    if total > MAX_RESULT_BYTES:
                        raise QualityCheckFailed("The result is too large.", code="result_not_image")
                    chunks.append(chunk)
                return b"".join(chunks)
        except requests.RequestException as exc:
            raise TransientEngineError(
                "The result could not be downloaded; we will try again.", code="engine_result_download"
            ) from exc


def _origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL, the port filled in; None for anything else."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # a port that is not a number
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.lower(), port


def storage_origins() -> list[str]:
    """Where our storage's presigned result URLs point (settings.py's S3 or local files)."""
    from django.conf import settings

    if not settings.USE_S3:
        return [settings.SITE_URL]
    bucket = settings.AWS_STORAGE_BUCKET_NAME
    if settings.AWS_S3_ENDPOINT_URL:
        endpoint = urlsplit(settings.AWS_S3_ENDPOINT_URL)
        # Path-style URLs use the endpoint; virtual-hosted ones put the bucket in front.
        return [settings.AWS_S3_ENDPOINT_URL, f"{endpoint.scheme}://{bucket}.{endpoint.netloc}"]
    region = settings.AWS_S3_REGION_NAME
    return [
        f"https://s3.{region}.amazonaws.com",
        f"https://{bucket}.s3.{region}.amazonaws.com",
        "https://s3.amazonaws.com",
        f"https://{bucket}.s3.amazonaws.com",
    ]


def parse_progress(output: object) -> EngineProgress | None:
    """Our worker's progress report (``{"step", "steps", ...}``, the ``output`` of a job while
    IN_PROGRESS), or None for anything else."""
    if not isinstance(output, dict):
        return None
    step, steps = output.get("step"), output.get("steps")
    if type(step) is not int or type(steps) is not int or not 0 <= step <= steps or steps < 1:
        return None
    return EngineProgress(step=step, steps=steps)


def _retry_after(response: requests.Response | None) -> float | None:
    if response is None:
        return None
    try:
        return float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
