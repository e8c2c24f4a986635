"""The local engine's "living photo": a classical stand-in for animation, not AI.

A slow camera move over the still photo — push-in, drift or a gentle look around — with eased
starts and stops, rendered to the same MP4 as the GPU worker's video. Nobody in the photo moves:
making a face blink or smile needs a model, and faking it with warps would look uncanny, so the
result says what it is. There is no parallax either: that needs a depth estimate this engine
does not have, and a guessed one tears edges, so the motion is a plain 2-D camera move.

The first frame is the photo itself (scale 1, centred), so the result starts where the person's
picture is; the move stays inside the picture (no borders ever show).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from processing.engines.video import VIDEO_FPS, VIDEO_FRAMES, encode_mp4, even_size

NOTE_NOT_AI = (
    "Made without AI: a slow camera move over your still photo. "
    "People in it do not move; the AI animation needs the GPU engine."
)


@dataclass(frozen=True)
class Move:
    """A camera move: zoom at the end (1.06 = 6 % closer), where the centre drifts to (as a
    fraction of the room the zoom leaves: -1 … 1 in x and y), and a side-to-side sway."""

    zoom: float
    drift: tuple[float, float] = (0.0, 0.0)
    sway: float = 0.0


# One move per animation preset (processing.engines.prompts.ANIMATE_MOTIONS); faces are usually
# in a portrait's upper half, so the moves that stand for a person's motion drift up a little.
MOVES: dict[str, Move] = {
    "subtle_life": Move(zoom=1.05, drift=(0.0, -0.3)),
    "smile": Move(zoom=1.08, drift=(0.0, -0.5)),
    "look_around": Move(zoom=1.08, sway=0.8),
    "push_in": Move(zoom=1.12),
}
DEFAULT_MOVE = MOVES["subtle_life"]


def ease(t: float) -> float:
    """Cosine ease in and out: still at the start and at the end, smooth in between."""
    return 0.5 - 0.5 * math.cos(math.pi * min(1.0, max(0.0, t)))


def camera_path(move: Move, count: int) -> list[tuple[float, float, float]]:
    """Per frame (zoom, x offset, y offset); offsets are fractions of the room the zoom leaves
    on each side, so the crop never leaves the picture."""
    path = []
    for index in range(count):
        t = index / max(1, count - 1)
        e = ease(t)
        zoom = 1.0 + (move.zoom - 1.0) * e
        x = move.drift[0] * e + move.sway * math.sin(2 * math.pi * t) * min(1.0, 4 * e)
        y = move.drift[1] * e
        path.append((zoom, max(-1.0, min(1.0, x)), max(-1.0, min(1.0, y))))
    return path


def living_frames(image: np.ndarray, *, preset: str = "", frames: int = VIDEO_FRAMES):
    """Yield ``frames`` RGB frames of the camera move for ``preset`` over ``image`` (its size,
    trimmed to even sides)."""
    height, width = image.shape[:2]
    width, height = even_size(width, height)
    image = np.ascontiguousarray(image[:height, :width])
    move = MOVES.get(preset, DEFAULT_MOVE)
    for zoom, x, y in camera_path(move, frames):
        # Output pixel p shows source pixel centre + (p - half) / zoom; the room the zoom
        # leaves on each side is half * (1 - 1/zoom).
        room_x = width / 2 * (1 - 1 / zoom)
        room_y = height / 2 * (1 - 1 / zoom)
        cx = width / 2 + x * room_x
        cy = height / 2 + y * room_y
        matrix = np.array(
            [[1 / zoom, 0.0, cx - width / (2 * zoom)], [0.0, 1 / zoom, cy - height / (2 * zoom)]],
            dtype=np.float64,
        )
        if zoom == 1.0 and x == 0.0 and y == 0.0:
            yield image
            continue
        yield cv2.warpAffine(
            image,
            matrix,
            (width, height),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REFLECT,
        )


def living_photo(
    image: np.ndarray, *, preset: str = "", frames: int = VIDEO_FRAMES, fps: int = VIDEO_FPS, threads: int = 0
) -> bytes:
    """The living-photo MP4 of ``image`` (not marked as AI-made: it is not)."""
    return encode_mp4(
        living_frames(image, preset=preset, frames=frames), fps=fps, ai_made=False, threads=threads
    )


__all__ = ["MOVES", "NOTE_NOT_AI", "camera_path", "living_frames", "living_photo"]
