"""The kinds people can order on this server, read from the engine's own declaration.

Each engine class says which kinds it really ``performs`` and whether it ``uses_hints``
(processing.engines.base). This module turns that into what the choice page, the API and
``job_create`` all read, so a kind the engine cannot really do is never offered for credits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.conf import settings

from credits.plans import job_price
from photos import imaging
from processing.engines.base import Kind, engine_class
from processing.models import OFFERED_KINDS, JobKind

# One plain line per kind for the choice page.
KIND_HELP = {
    JobKind.RESTORE: "Repairs scratches, dust, fading and noise.",
    JobKind.COLOURIZE: "Adds colour to a black-and-white or faded photo.",
    JobKind.RESTORE_COLOURIZE: "Both: repair first, then add colour.",
}

# Why a kind is not offered on this server, in words for the person (no engine names).
UNAVAILABLE_REASON = "This server cannot add real colour to photos yet."


@dataclass(frozen=True)
class KindOffer:
    """One kind as this server offers it: its price and, when unavailable, why."""

    kind: JobKind
    price: int
    available: bool
    reason: str = ""

    @property
    def value(self) -> str:
        return self.kind.value

    @property
    def label(self) -> str:
        return self.kind.label

    @property
    def help(self) -> str:
        return KIND_HELP[self.kind]


def _engine(engine: str | None) -> type:
    return engine_class(engine or settings.ENGINE)


def kinds_offered(*, engine: str | None = None) -> list[KindOffer]:
    """Every orderable kind with its price and whether ``engine`` (default: this server's)
    really performs it."""
    performs = _engine(engine).performs
    return [
        KindOffer(
            kind=kind,
            price=job_price(kind.value),
            available=Kind(kind.value) in performs,
            reason="" if Kind(kind.value) in performs else UNAVAILABLE_REASON,
        )
        for kind in OFFERED_KINDS
    ]


def kind_offer(*, kind: str, engine: str | None = None) -> KindOffer | None:
    """The offer for ``kind``, or None when it is not an orderable kind at all."""
    return next((offer for offer in kinds_offered(engine=engine) if offer.value == kind), None)


def engine_uses_hints(*, engine: str | None = None) -> bool:
    """Whether colour hints change the result on ``engine`` (default: this server's)."""
    return bool(_engine(engine).uses_hints)


def job_first_step(image: np.ndarray, *, kind: str, keep_tone: bool | None = None) -> tuple[np.ndarray, bool]:
    """What a job does before its engine, for the commands that restore outside a job
    (``restore``, ``make_home_examples``): gentle levels and white balance, levels only for a
    toned print whose tone is kept (by default a toned print keeps it unless the kind
    colourizes, as ``job_create`` decides). Returns the engine's input and ``keep_tone``."""
    if Kind(kind).colourizes:
        keep_tone = False
    elif keep_tone is None:
        keep_tone = imaging.is_toned(image)
    return imaging.enhance(image, keep_tone=keep_tone), keep_tone
