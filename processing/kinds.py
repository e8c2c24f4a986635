"""Every kind of job, described once: what it costs, what it takes, what it makes, which engines
really perform it, how its instruction is built and how its result is checked.

``KIND_SPECS`` is the one table. The choice pages, the API, ``job_create``, the runner, the
result pages, the admin and the commands read a kind's behaviour from its ``KindSpec`` instead of
testing its name. Engines say which kinds they really ``performs`` (processing.engines.base), so
a kind the engine cannot do is never offered for credits. The instruction a generative engine
gets is built by ``processing.engines.prompts.instruction_for`` (Django-free, shared with the
GPU worker) from the kind and the options validated here.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from django.conf import settings

from credits.plans import job_price
from photos import imaging
from processing.engines.base import EngineResult, Kind, engine_class
from processing.engines.codec import expected_size
from processing.engines.prompts import (
    ANIMATE_DESCRIPTION_MAX,
    ANIMATE_MOTIONS,
    TOGETHER_DESCRIPTION_MAX,
    TOGETHER_SETTINGS,
)
from processing.models import JobKind
from processing.quality import quality_check
from processing.together import together_check, together_result_size
from processing.video import animate_result_size, video_quality_check


class ResultType(enum.Enum):
    """What a kind makes: a picture (JPEG) or a short video (MP4 with a JPEG poster)."""

    IMAGE = ("image", "jpg", "image/jpeg")
    VIDEO = ("video", "mp4", "video/mp4")

    def __init__(self, word: str, extension: str, content_type: str) -> None:
        self.word = word
        self.extension = extension
        self.content_type = content_type


@dataclass(frozen=True)
class Preset:
    """One choice a person can make in plain words ("Smile"), and the phrase it adds to the
    instruction the model gets."""

    key: str
    label: str
    phrase: str


# The quality check of a kind: (input pictures in order, the engine's result, the expected
# (width, height)) -> None, raising processing.quality.QualityCheckFailed.
QualityCheck = Callable[[list[np.ndarray], EngineResult, tuple[int, int]], None]
# The expected result size (width, height) from the input pictures and the job's size cap.
ResultSize = Callable[[list[np.ndarray], tuple[int, int]], tuple[int, int]]


def _same_photo_check(inputs: list[np.ndarray], result: EngineResult, size: tuple[int, int]) -> None:
    quality_check(inputs[0], result.image, size)


def _first_input_size(inputs: list[np.ndarray], max_size: tuple[int, int]) -> tuple[int, int]:
    return expected_size(inputs[0], max_size)


def _video_length_options() -> dict[str, str]:
    """What an animation asks every engine for: this server's frame count and rate."""
    return {"frames": str(settings.VIDEO_FRAMES), "fps": str(settings.VIDEO_FPS)}


def _video_check(inputs: list[np.ndarray], result: EngineResult, size: tuple[int, int]) -> None:
    video_quality_check(inputs[0], result.video, size, frames=settings.VIDEO_FRAMES)


def _no_engine_options() -> dict[str, str]:
    return {}


@dataclass(frozen=True)
class KindSpec:
    """One kind of job. ``inputs`` is (fewest, most) input pictures; ``accepts_results`` lets a
    finished result of another job be an input (people animate the restored version);
    ``enhance_first`` runs the gentle levels/white-balance first step on a photo input;
    ``presets``/``description_max``/``colour_choice`` are the options the person may give;
    ``result_outlives_inputs``: the result is a new picture of the person's own, kept when an
    input photo is deleted."""

    kind: JobKind
    done_word: str
    help: str
    # What a running job's page says it is doing: "Restoring… step 12 of 40".
    progress_verb: str
    inputs: tuple[int, int] = (1, 1)
    accepts_results: bool = False
    result: ResultType = ResultType.IMAGE
    enhance_first: bool = True
    presets: tuple[Preset, ...] = ()
    description_max: int = 0
    colour_choice: bool = False
    result_outlives_inputs: bool = False
    check: QualityCheck = _same_photo_check
    result_size: ResultSize = _first_input_size
    # Settings the engine needs beside the person's options (a video's frame count and rate);
    # sent with the request's options, never stored on the job.
    engine_options: Callable[[], dict[str, str]] = _no_engine_options
    # A longer "what happens" for the choice page, said before spending.
    what_happens: str = ""
    # Why the kind is not offered when this server's engine does not perform it (no engine names).
    unavailable_reason: str = "This server cannot do this yet."

    @property
    def value(self) -> str:
        return self.kind.value

    @property
    def label(self) -> str:
        return self.kind.label

    @property
    def price(self) -> int:
        return job_price(self.value)

    @property
    def engine_kind(self) -> Kind:
        return Kind(self.value)

    @property
    def colourizes(self) -> bool:
        return self.engine_kind in (Kind.COLOURIZE, Kind.RESTORE_COLOURIZE)

    @property
    def takes_several(self) -> bool:
        return self.inputs[1] > 1

    def preset(self, key: str) -> Preset | None:
        return next((p for p in self.presets if p.key == key), None)


NO_COLOUR_REASON = "This server cannot add real colour to photos yet."


# Bring together's settings in plain words; the phrase the model gets is in prompts.py.
TOGETHER_PRESETS = tuple(
    Preset(key=key, label=label, phrase=TOGETHER_SETTINGS[key])
    for key, label in (
        ("side_by_side", "Side by side"),
        ("sofa", "Sitting together on a sofa"),
        ("family_table", "At a family table"),
        ("garden", "Outdoors in a garden"),
    )
)

KIND_SPECS: dict[str, KindSpec] = {
    spec.value: spec
    for spec in (
        KindSpec(
            kind=JobKind.RESTORE,
            progress_verb="Restoring",
            done_word="Restored",
            help="Repairs scratches, dust, fading and noise.",
        ),
        KindSpec(
            kind=JobKind.COLOURIZE,
            progress_verb="Colourizing",
            done_word="Colourized",
            help="Adds colour to a black-and-white or faded photo.",
            unavailable_reason=NO_COLOUR_REASON,
        ),
        KindSpec(
            kind=JobKind.RESTORE_COLOURIZE,
            progress_verb="Restoring and colourizing",
            done_word="Restored and colourized",
            help="Both: repair first, then add colour.",
            unavailable_reason=NO_COLOUR_REASON,
        ),
        KindSpec(
            kind=JobKind.ANIMATE,
            progress_verb="Animating",
            done_word="Animated",
            help="A few seconds of gentle motion: the photo comes to life as a short video.",
            what_happens=(
                "You get a video of about 5 seconds that starts from this picture. "
                "Best on a photo that is already restored."
            ),
            accepts_results=True,
            result=ResultType.VIDEO,
            presets=tuple(
                Preset(key=key, label=label, phrase=ANIMATE_MOTIONS[key])
                for key, label in (
                    ("subtle_life", "Subtle life"),
                    ("smile", "Smile"),
                    ("look_around", "Look around"),
                    ("push_in", "Slow camera push-in"),
                )
            ),
            description_max=ANIMATE_DESCRIPTION_MAX,
            check=_video_check,
            result_size=animate_result_size,
            engine_options=_video_length_options,
        ),
        KindSpec(
            kind=JobKind.BRING_TOGETHER,
            progress_verb="Bringing together",
            done_word="Brought together",
            help="People from two or three photos in one new picture.",
            inputs=(2, 3),
            accepts_results=True,
            presets=TOGETHER_PRESETS,
            description_max=TOGETHER_DESCRIPTION_MAX,
            colour_choice=True,
            result_outlives_inputs=True,
            check=together_check,
            result_size=together_result_size,
        ),
    )
}


def kind_spec(kind: str) -> KindSpec:
    """The description of ``kind``; KeyError for a kind that is not described (not orderable)."""
    return KIND_SPECS[str(kind)]


def kind_specs() -> list[KindSpec]:
    return list(KIND_SPECS.values())


@dataclass(frozen=True)
class KindOffer:
    """One kind as this server offers it: its price and, when unavailable, why."""

    spec: KindSpec
    available: bool
    reason: str = ""

    @property
    def kind(self) -> JobKind:
        return self.spec.kind

    @property
    def price(self) -> int:
        return self.spec.price

    @property
    def value(self) -> str:
        return self.spec.value

    @property
    def label(self) -> str:
        return self.spec.label

    @property
    def help(self) -> str:
        return self.spec.help


def _engine(engine: str | None) -> type:
    return engine_class(engine or settings.ENGINE)


def kinds_offered(*, engine: str | None = None, single_photo: bool | None = None) -> list[KindOffer]:
    """Every orderable kind with its price and whether ``engine`` (default: this server's)
    really performs it. ``single_photo`` True keeps kinds that take one input (the choice page
    of one photo), False those that take several."""
    performs = _engine(engine).performs
    return [
        KindOffer(
            spec=spec,
            available=spec.engine_kind in performs,
            reason="" if spec.engine_kind in performs else spec.unavailable_reason,
        )
        for spec in KIND_SPECS.values()
        if single_photo is None or single_photo != spec.takes_several
    ]


def kind_offer(*, kind: str, engine: str | None = None) -> KindOffer | None:
    """The offer for ``kind``, or None when it is not an orderable kind at all."""
    return next((offer for offer in kinds_offered(engine=engine) if offer.value == kind), None)


def engine_uses_hints(*, engine: str | None = None) -> bool:
    """Whether colour hints change the result on ``engine`` (default: this server's)."""
    return bool(_engine(engine).uses_hints)


def engine_stands_in(*, kind: str, engine: str | None = None) -> bool:
    """Whether ``engine`` (default: this server's) performs ``kind`` only with a classical
    stand-in (the local engine's side-by-side bring together), which the pages say."""
    return Kind(kind) in getattr(_engine(engine), "stands_in", frozenset())


def job_first_step(image: np.ndarray, *, kind: str, keep_tone: bool | None = None) -> tuple[np.ndarray, bool]:
    """What a job does before its engine, for the commands that restore outside a job
    (``restore``, ``make_home_examples``): gentle levels and white balance, levels only for a
    toned print whose tone is kept (by default a toned print keeps it unless the kind
    colourizes, as ``job_create`` decides). Returns the engine's input and ``keep_tone``."""
    spec = kind_spec(kind)
    if spec.colourizes:
        keep_tone = False
    elif keep_tone is None:
        keep_tone = imaging.is_toned(image)
    if not spec.enhance_first:
        return image, bool(keep_tone)
    return imaging.enhance(image, keep_tone=keep_tone), keep_tone
