"""Engines: pure image-in, image-out restoration behind one interface (see base.py).

Nothing in this package imports Django at module level, so the RunPod worker image ships it.
"""

from processing.engines.base import (
    Engine,
    EngineError,
    EngineRequest,
    EngineResult,
    Kind,
    PermanentEngineError,
    TransientEngineError,
    get_engine,
    retry_delay,
)

__all__ = [
    "Engine",
    "EngineError",
    "EngineRequest",
    "EngineResult",
    "Kind",
    "PermanentEngineError",
    "TransientEngineError",
    "get_engine",
    "retry_delay",
]
