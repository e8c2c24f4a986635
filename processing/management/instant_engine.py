"""The instant engine of the benchmarks: a job whose engine hands the input straight back, so
what is left of its time is our own overhead (charge, enqueue, transitions, decode, quality
check, result files).

``queue_bench`` swaps it in inside its own process (``instant_engine()``); ``loadtest`` loads
this module into a real Celery worker with ``--include processing.management.instant_engine``,
which swaps it in for the whole worker process on import. Nothing in the application imports it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from processing import services as processing_services
from processing.engines.base import EngineRequest, EngineResult

# Set by loadtest on the worker it starts: importing this module then installs the engine.
WORKER_SWITCH = "REKINDLE_INSTANT_ENGINE"


class InstantEngine:
    """Hands the input back untouched."""

    name = "instant"

    def run(self, request: EngineRequest) -> EngineResult:
        return EngineResult(image=request.image, engine="instant")


def _instant(name: str, **options: object) -> InstantEngine:
    return InstantEngine()


@contextmanager
def instant_engine() -> Iterator[None]:
    """``processing.services.get_engine`` answering InstantEngine for the duration."""
    original = processing_services.get_engine
    processing_services.get_engine = _instant  # type: ignore[assignment]
    try:
        yield
    finally:
        processing_services.get_engine = original


if os.environ.get(WORKER_SWITCH) == "1":
    processing_services.get_engine = _instant  # type: ignore[assignment]
