"""The one small interface every engine speaks: a request in, a result out, two kinds of error.

Pure Python + numpy: no Django here, so the RunPod worker image can ship this module as is.

Images are numpy arrays, height x width x 3, dtype uint8, **RGB** channel order (not OpenCV's
BGR). A 2-D grayscale array is accepted in a request and widened to three equal channels.
"""

from __future__ import annotations

import enum
import random
import re
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

# A colour hint is a short description ("blue dress, red brick house"); longer text is cut so
# a prompt cannot be drowned by it.
HINTS_MAX_LENGTH = 200

# Free jobs fit 854x480, paid 1280x720 (ARCHITECTURE.md); nothing an engine makes is larger.
DEFAULT_MAX_SIZE = (1280, 720)


class Kind(enum.StrEnum):
    """What a job asks an engine to do (the wire name; ``processing.kinds`` describes each)."""

    RESTORE = "restore"
    COLOURIZE = "colourize"
    RESTORE_COLOURIZE = "restore_colourize"
    ANIMATE = "animate"
    BRING_TOGETHER = "bring_together"

    @property
    def restores(self) -> bool:
        return self in (Kind.RESTORE, Kind.RESTORE_COLOURIZE)

    @property
    def colourizes(self) -> bool:
        return self in (Kind.COLOURIZE, Kind.RESTORE_COLOURIZE)

    @property
    def makes_video(self) -> bool:
        """A short video comes back (MP4 in ``EngineResult.video``), not a picture."""
        return self is Kind.ANIMATE

    @property
    def composes(self) -> bool:
        """A new picture is composed from several (its own size, lined up with no input)."""
        return self is Kind.BRING_TOGETHER


class EngineError(Exception):
    """An engine could not make a result; ``message`` is written for the person who asked."""

    default_code = "engine_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code


class TransientEngineError(EngineError):
    """Worth retrying with backoff (timeouts, 429, 5xx, a lost or timed-out external job).

    ``resubmit`` tells a caller that resumes by external id whether the external job is gone
    (finished badly, timed out, or unknown to the provider), so the retry must submit a new
    one; when False the external job is still alive and the retry should poll it again.
    ``retry_after`` is the provider's own hint in seconds, when it gave one.
    """

    default_code = "engine_unavailable"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        resubmit: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.resubmit = resubmit
        self.retry_after = retry_after


class PermanentEngineError(EngineError):
    """Retrying cannot help (bad input, refused credentials, a cancelled external job)."""

    default_code = "engine_failed"


def clean_hints(hints: str | None) -> str | None:
    """Plain, single-line, length-limited text, or None when nothing useful is left."""
    if not hints:
        return None
    # Control characters and markup-ish symbols have no place in a colour description.
    text = re.sub(r"[^\w\s,.;:'()\-/&+]", " ", hints)
    text = re.sub(r"\s+", " ", text).strip()
    if not text:
        return None
    return text[:HINTS_MAX_LENGTH].rstrip()


def as_rgb_array(image: Any) -> np.ndarray:
    """The canonical engine image: HxWx3 uint8 RGB, C-contiguous. Accepts PIL images too."""
    if not isinstance(image, np.ndarray):
        try:
            from PIL import Image
        except ImportError as exc:  # pragma: no cover - Pillow is always installed with us
            raise PermanentEngineError("The image could not be read.", code="bad_image") from exc
        if isinstance(image, Image.Image):
            image = np.asarray(image.convert("RGB"))
        else:
            raise PermanentEngineError("The image could not be read.", code="bad_image")
    if image.dtype != np.uint8:
        raise PermanentEngineError("The image must be 8-bit.", code="bad_image")
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3:
        raise PermanentEngineError("The image must have three colour channels.", code="bad_image")
    if min(image.shape[:2]) < 16:
        raise PermanentEngineError("The image is too small to work on.", code="bad_image")
    return np.ascontiguousarray(image)


@dataclass(frozen=True)
class EngineRequest:
    """One piece of work for an engine.

    ``max_size`` is a (long side, short side) cap: (1280, 720) fits a landscape picture into
    1280x720 and a portrait one into 720x1280. Engines never upscale. ``seed`` makes a
    generative engine repeatable; ``job_ref`` is the caller's id for the work (our Job id),
    passed to external providers for tracing. ``keep_tone``: the person asked to keep a toned
    (sepia) print's tone, so restoring must not correct its colour cast.
    """

    image: np.ndarray
    kind: Kind
    max_size: tuple[int, int] = DEFAULT_MAX_SIZE
    hints: str | None = None
    seed: int = 0
    job_ref: str = ""
    keep_tone: bool = False
    # Further input pictures after ``image``, in order (bring together: pictures 2 and 3).
    images: tuple[np.ndarray, ...] = ()
    # The person's choices for kinds that take them: "preset", "description", "colour" (plain
    # strings, already validated by the server; engines build their instruction from them).
    options: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        try:
            kind = Kind(self.kind)
        except ValueError as exc:
            raise PermanentEngineError(f"Unknown kind of work: {self.kind!r}.", code="bad_kind") from exc
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "image", as_rgb_array(self.image))
        long_side, short_side = (int(v) for v in self.max_size)
        if short_side < 16 or long_side < short_side:
            raise PermanentEngineError("The size limit is not valid.", code="bad_size")
        object.__setattr__(self, "max_size", (long_side, short_side))
        object.__setattr__(self, "hints", clean_hints(self.hints))
        object.__setattr__(self, "seed", int(self.seed) % 2**32)
        object.__setattr__(self, "keep_tone", bool(self.keep_tone))
        object.__setattr__(self, "images", tuple(as_rgb_array(image) for image in self.images))
        object.__setattr__(self, "options", {str(k): str(v) for k, v in (self.options or {}).items() if v})

    @property
    def inputs(self) -> tuple[np.ndarray, ...]:
        """Every input picture in order: ``image`` first."""
        return (self.image, *self.images)


@dataclass
class EngineResult:
    """What an engine made.

    ``usage`` always has ``seconds`` (wall time spent by the engine) and ``gpu_seconds`` (the
    billable GPU time; 0.0 for the local engine, which reports ``cpu_seconds`` instead).
    ``notes`` are sentences a person may see ("The local engine cannot use colour hints.").
    A video result (animate) is ``video`` (MP4 bytes) with ``image`` its first frame (poster).
    """

    image: np.ndarray
    engine: str
    usage: dict[str, float] = field(default_factory=lambda: {"seconds": 0.0, "gpu_seconds": 0.0})
    notes: list[str] = field(default_factory=list)
    model: str = ""
    video: bytes | None = None


@dataclass(frozen=True)
class EngineProgress:
    """How far a remote engine's job has got: denoising ``step`` of ``steps`` (from 1)."""

    step: int
    steps: int


@runtime_checkable
class Engine(Protocol):
    """Anything that turns an EngineRequest into an EngineResult.

    ``performs`` is the kinds the engine really does (a kind it can only imitate is left
    out, so nobody is charged for it); ``uses_hints`` says whether colour hints change its
    result. Both are class attributes, readable without configuring the engine.
    """

    name: str
    performs: frozenset[Kind]
    uses_hints: bool

    def run(self, request: EngineRequest) -> EngineResult: ...


def retry_delay(
    attempt: int, *, base: float = 2.0, cap: float = 300.0, rng: random.Random | None = None
) -> float:
    """Exponential backoff with full jitter for the ``attempt``-th retry (0-based), in seconds.

    Full jitter spreads retries of many jobs that failed together (a RunPod outage) instead of
    having them all knock again at the same instant.
    """
    ceiling = min(cap, base * (2 ** max(0, attempt)))
    return (rng or random).uniform(ceiling / 2, ceiling)


def engine_class(name: str) -> type:
    """The class of the engine called ``name`` ("local" or "runpod"), not configured: enough
    to read what it ``performs`` and whether it ``uses_hints``."""
    if name == "local":
        from processing.engines.local import LocalEngine

        return LocalEngine
    if name == "runpod":
        from processing.engines.runpod import RunPodEngine

        return RunPodEngine
    raise PermanentEngineError(f"There is no engine called {name!r}.", code="bad_engine")


def get_engine(name: str, **options: Any) -> Engine:
    """The engine called ``name`` ("local" or "runpod").

    ``options`` go to the engine's constructor; the runpod engine without options reads its
    configuration from Django settings (RUNPOD_API_KEY, RUNPOD_ENDPOINT_ID,
    RUNPOD_ENDPOINT_BASE_URL).
    """
    cls = engine_class(name)
    if options or not hasattr(cls, "from_settings"):
        return cls(**options)
    return cls.from_settings()
