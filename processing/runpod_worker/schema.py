"""The input a job on our RunPod endpoint must carry, and the error format it answers with.

Both sides use these names: processing/engines/runpod.py builds this input and parses these
errors. Validation is pydantic (already a dependency of runpod and of django-ninja).
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from processing.engines.base import HINTS_MAX_LENGTH, Kind

# RunPod's /run accepts at most 10 MB of JSON; base64 grows data by a third.
MAX_B64_CHARS = 9_500_000
MAX_INSTRUCTION_LENGTH = 1000
MAX_EXTRA_IMAGES = 2
MAX_OPTIONS = 8
MAX_OPTION_LENGTH = 500

# Error codes the worker reports. Retryable ones may succeed on another attempt (a flaky
# download, a worker that ran out of memory, an unlucky seed); the others never will.
RETRYABLE_CODES = frozenset({"download_failed", "upload_failed", "worker_error", "alignment_failed"})


class JobInput(BaseModel):
    """``job["input"]`` for our endpoint. Exactly one of image_url / image_b64."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: Literal["restore", "colourize", "restore_colourize", "animate", "bring_together"]
    image_url: str | None = Field(default=None, max_length=4096, pattern=r"^https?://")
    image_b64: str | None = Field(default=None, max_length=MAX_B64_CHARS)
    # More pictures the model sees next to the photo: base64, at most MAX_EXTRA_IMAGES. For
    # bring_together they are pictures 2 and 3, and the result is a new picture of its own
    # (processing/engines/together.py's size, not lined up with any input); for the other kinds
    # they are references and the result is the size of, and lined up with, the photo.
    extra_images_b64: list[str] = Field(default_factory=list, max_length=MAX_EXTRA_IMAGES)
    # (long side, short side) cap of the result, like EngineRequest.max_size.
    max_size: tuple[int, int] = Field(default=(1280, 720))
    hints: str | None = Field(default=None, max_length=HINTS_MAX_LENGTH * 2)
    instruction: str | None = Field(default=None, max_length=MAX_INSTRUCTION_LENGTH)
    seed: int = Field(default=0, ge=0, lt=2**32)
    # The kind's choices and the server's settings for it (animate: "preset", "description",
    # "frames", "fps"; bring_together: "preset", "description", "colour"), plain strings as in
    # EngineRequest.options; the instruction already says them in words.
    options: dict[str, str] = Field(default_factory=dict, max_length=MAX_OPTIONS)
    job_ref: str = Field(default="", max_length=200)
    # Where to PUT the result (a presigned URL) and the URL to report back for reading it;
    # without them the result comes back as base64 in the output.
    result_put_url: str | None = Field(default=None, max_length=4096, pattern=r"^https?://")
    result_get_url: str | None = Field(default=None, max_length=4096, pattern=r"^https?://")

    @model_validator(mode="after")
    def _one_image_and_sane_cap(self) -> JobInput:
        if (self.image_url is None) == (self.image_b64 is None):
            raise ValueError("give exactly one of image_url or image_b64")
        long_side, short_side = self.max_size
        if not (16 <= short_side <= long_side <= 4096):
            raise ValueError("max_size must be (long side, short side) between 16 and 4096")
        if len(self.image_b64 or "") + sum(len(extra) for extra in self.extra_images_b64) > MAX_B64_CHARS:
            raise ValueError(f"the images together must be under {MAX_B64_CHARS} base64 characters")
        if any(len(key) > 40 or len(value) > MAX_OPTION_LENGTH for key, value in self.options.items()):
            raise ValueError(
                f"options must be short (names up to 40, values up to {MAX_OPTION_LENGTH} characters)"
            )
        if Kind(self.kind).composes and not 1 <= len(self.extra_images_b64) <= MAX_EXTRA_IMAGES:
            raise ValueError("bring_together needs two or three pictures (image and extra_images_b64)")
        if (self.result_put_url is None) != (self.result_get_url is None):
            raise ValueError("give both result_put_url and result_get_url, or neither")
        return self


def error_output(code: str, message: str) -> dict[str, str]:
    """The handler's answer for a job it could not do. RunPod marks the job FAILED and puts
    this string in the status's ``error``; the client parses it back with parse_error."""
    return {"error": json.dumps({"code": code, "message": message, "retryable": code in RETRYABLE_CODES})}


def parse_error(error: object) -> dict[str, object] | None:
    """Our structured error from a FAILED job's ``error`` field, or None when it is not ours
    (a crash RunPod reported on its own)."""
    if isinstance(error, dict):
        data = error
    else:
        try:
            data = json.loads(str(error))
        except (TypeError, ValueError):
            return None
    if not isinstance(data, dict) or not isinstance(data.get("code"), str) or "message" not in data:
        return None
    return data
