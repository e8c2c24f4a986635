"""The quality check a video result (animate) must pass before anyone sees or pays for it.

A video passes when it decodes as H.264, has exactly the expected frame size and frame count,
its first frame is still the input photo (lightness SSIM at a small size above
``FIRST_FRAME_FLOOR``, the same measure as the image check), something moves (the most any frame
differs from the first is above ``MOTION_FLOOR``: not a frozen photo), and it is not chaos
(every frame is still close to the one before it: lightness SSIM above ``CONSISTENCY_FLOOR``).
Pure numpy/OpenCV over processing.engines.video; the frame count and rate come from settings
through ``processing.kinds`` (``VIDEO_FRAMES``, ``VIDEO_FPS``).
"""

from __future__ import annotations

import itertools

import cv2
import numpy as np

from processing.engines.video import VideoDecodeError, decode_mp4, even_size
from processing.quality import MIN_LIGHTNESS_STD, QualityCheckFailed, lightness, ssim, structural_similarity

# The first frame against the input: the same floor as an image result against its photo.
FIRST_FRAME_FLOOR = 0.45
# Frames are compared at this short side (motion and consistency are about the whole picture).
MOTION_SIDE = 96
# Mean absolute lightness change (0-255) of the frame that moved most, against the first frame.
# A frozen photo re-encoded scores about 0.01; a 5 % push-in over a photo scores 3 or more.
MOTION_FLOOR = 0.4
# Lightness SSIM of neighbouring frames: a smooth 16 fps video scores above 0.8; unrelated noise
# frames score about 0.0.
CONSISTENCY_FLOOR = 0.35


def animate_result_size(inputs: list[np.ndarray], max_size: tuple[int, int]) -> tuple[int, int]:
    """The expected video frame size: the photo fitted to the cap, with even sides (yuv420p)."""
    from processing.engines.codec import expected_size

    return even_size(*expected_size(inputs[0], max_size))


def _small(frame: np.ndarray) -> np.ndarray:
    height, width = frame.shape[:2]
    scale = MOTION_SIDE / min(height, width)
    size = (max(16, round(width * scale)), max(16, round(height * scale)))
    return cv2.resize(lightness(frame), size, interpolation=cv2.INTER_AREA)


def video_quality_check(
    input_img: np.ndarray, video: bytes | None, expected_size: tuple[int, int], *, frames: int
) -> None:
    """Raise QualityCheckFailed unless ``video`` (MP4 bytes) is a fit animation of ``input_img``."""
    if not video:
        raise QualityCheckFailed("No video came back.", code="result_not_video")
    try:
        decoded = decode_mp4(bytes(video))
    except VideoDecodeError as exc:
        raise QualityCheckFailed("The result is not a video we can play.", code="result_not_video") from exc
    if decoded.codec != "h264" or decoded.pix_fmt != "yuv420p":
        raise QualityCheckFailed("The video is not in a format every browser plays.", code="result_not_video")
    width, height = decoded.size
    if (width, height) != tuple(expected_size):
        raise QualityCheckFailed(
            f"The video is {width}x{height} pixels instead of {expected_size[0]}x{expected_size[1]}.",
            code="result_wrong_size",
        )
    count = len(decoded.frames)
    if count != frames:
        raise QualityCheckFailed(
            f"The video has {count} frames instead of {frames}.", code="result_wrong_length"
        )
    first = decoded.frames[0]
    if float(lightness(first).std()) < MIN_LIGHTNESS_STD:
        raise QualityCheckFailed("The video is blank.", code="result_blank")
    if not structural_similarity(input_img, first) >= FIRST_FRAME_FLOOR:
        raise QualityCheckFailed("The video does not start from your photo.", code="result_not_same_photo")
    small = [_small(frame) for frame in decoded.frames]
    if count > 1:
        base = small[0].astype(np.float32)
        motion = max(float(np.abs(frame.astype(np.float32) - base).mean()) for frame in small[1:])
        if motion < MOTION_FLOOR:
            raise QualityCheckFailed("Nothing moves in the video.", code="result_frozen")
        consistency = min(ssim(a, b) for a, b in itertools.pairwise(small))
        if not consistency >= CONSISTENCY_FLOOR:
            raise QualityCheckFailed("The video jumps and flickers.", code="result_chaotic")
