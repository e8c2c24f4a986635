"""Short videos in and out: H.264 MP4 written and read with PyAV (FFmpeg's libraries).

Pure Python + numpy + av: no Django here, so the RunPod worker image ships this module as is
and both sides write the same format. Frames are numpy arrays, height x width x 3, uint8, RGB.

What every video we make is: H.264, yuv420p (plays everywhere, which needs even sides), the
``moov`` index first ("faststart": a browser starts playing before the whole file arrived),
``VIDEO_FPS`` frames a second. The AI disclosure marker (IPTC digital source type) goes into
the container's ``comment`` and ``description`` when the video was made by a model.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from processing.engines.disclosure import AI_DESCRIPTION, AI_SOURCE_TYPE

# About 5 s of video: Wan 2.2's native clip (81 frames at 16 fps; its frame counts are 4k+1).
VIDEO_FPS = 16
VIDEO_FRAMES = 81


# A decoded video is held in memory for checks; more frames than this is not one of ours.
MAX_DECODE_FRAMES = 400


# The longest and fastest video a request may ask for (``video_length``).
MAX_FRAMES = 161
MAX_FPS = 30


def video_length(options: dict[str, str] | None) -> tuple[int, int]:
    """(frames, fps) a request asks for: the server sends its settings as the request options
    "frames" and "fps" (processing.kinds); without them about 5 s at 16 fps. Out-of-range or
    unreadable values fall back to the default."""
    options = options or {}

    def number(key: str, default: int, most: int) -> int:
        try:
            value = int(options.get(key, default))
        except (TypeError, ValueError):
            return default
        return value if 1 <= value <= most else default

    return number("frames", VIDEO_FRAMES, MAX_FRAMES), number("fps", VIDEO_FPS, MAX_FPS)


class VideoDecodeError(ValueError):
    """The bytes are not a video we can read."""


@dataclass
class Video:
    """A decoded video: ``frames`` (N x H x W x 3 uint8 RGB) and what the container said."""

    frames: np.ndarray
    fps: float
    codec: str
    pix_fmt: str
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return int(self.frames.shape[2]), int(self.frames.shape[1])

    @property
    def ai_made(self) -> bool:
        return any(AI_SOURCE_TYPE in value for value in self.metadata.values())


def even_size(width: int, height: int) -> tuple[int, int]:
    """The largest even sides within (width, height): yuv420p halves the colour planes."""
    return max(2, width - width % 2), max(2, height - height % 2)


def encode_mp4(
    frames: Iterable[np.ndarray],
    *,
    fps: int = VIDEO_FPS,
    ai_made: bool = False,
    crf: int = 20,
    preset: str = "veryfast",
    threads: int = 0,
) -> bytes:
    """H.264 MP4 bytes of ``frames`` (all the same size; an odd side loses its last pixel row
    or column). ``ai_made`` writes the IPTC trained-algorithmic-media marker into the metadata.
    ``preset`` trades encoding time for size (x264's own names); ``threads`` 0 lets x264 choose."""
    import av

    fd, path = tempfile.mkstemp(suffix=".mp4")
    os.close(fd)
    count = 0
    try:
        # faststart rewrites the file with its index first, which needs a real (seekable) file.
        with av.open(path, "w", format="mp4", options={"movflags": "+faststart"}) as container:
            if ai_made:
                container.metadata["comment"] = AI_SOURCE_TYPE
                container.metadata["description"] = AI_DESCRIPTION
            stream = None
            for frame in frames:
                frame = np.asarray(frame)
                if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
                    raise ValueError("frames must be H x W x 3 uint8 RGB")
                if stream is None:
                    width, height = even_size(frame.shape[1], frame.shape[0])
                    stream = container.add_stream(
                        "libx264", rate=int(fps), options={"crf": str(crf), "preset": preset}
                    )
                    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
                    if threads:
                        stream.codec_context.thread_count = threads
                frame = np.ascontiguousarray(frame[: stream.height, : stream.width])
                if frame.shape[:2] != (stream.height, stream.width):
                    raise ValueError("every frame must have the size of the first")
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
                count += 1
            if stream is None:
                raise ValueError("a video needs at least one frame")
            container.mux(stream.encode())
        with open(path, "rb") as fh:
            return fh.read()
    finally:
        os.unlink(path)


def decode_mp4(data: bytes, *, max_frames: int = MAX_DECODE_FRAMES) -> Video:
    """Every frame of the video ``data`` (RGB); VideoDecodeError for anything we cannot read,
    for no frames, and for more than ``max_frames`` frames."""
    import av

    try:
        with av.open(io.BytesIO(data), "r") as container:
            if not container.streams.video:
                raise VideoDecodeError("no video stream")
            stream = container.streams.video[0]
            frames = []
            for frame in container.decode(stream):
                frames.append(frame.to_ndarray(format="rgb24"))
                if len(frames) > max_frames:
                    raise VideoDecodeError("too many frames")
            rate = stream.average_rate or stream.guessed_rate or 0
            codec = stream.codec_context.name
            pix_fmt = stream.codec_context.pix_fmt or ""
            metadata = {str(k): str(v) for k, v in container.metadata.items()}
    except VideoDecodeError:
        raise
    except (av.FFmpegError, ValueError, IndexError) as exc:
        raise VideoDecodeError(str(exc)) from exc
    if not frames:
        raise VideoDecodeError("no frames")
    return Video(frames=np.stack(frames), fps=float(rate), codec=codec, pix_fmt=pix_fmt, metadata=metadata)


__all__ = [
    "AI_DESCRIPTION",
    "AI_SOURCE_TYPE",
    "VIDEO_FPS",
    "VIDEO_FRAMES",
    "Video",
    "VideoDecodeError",
    "decode_mp4",
    "encode_mp4",
    "even_size",
    "video_length",
]
