"""``python -m processing.runpod_worker.bench_wan`` (also run by the worker bench,
``python -m processing.runpod_worker.bench``): seconds per video and peak memory of the
worker's wan backend with the tiny random Wan 2.2 pipeline (processing/runpod_worker/tiny_wan.py)
on CPU, at two frame sizes, each in its own process so its peak RSS is its own. The figures are
the worker's code path (load, text encoding, two experts, VAE decode, MP4 encode), not the real
model's speed. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from processing.runpod_worker.bench import _photo


def measure(env: dict[str, str], width: int, height: int, calls: int) -> dict[str, float]:
    """Load the backend with ``env``, one untimed call, then ``calls`` timed calls."""
    from processing.engines.base import Kind
    from processing.runpod_worker.wan import WanBackend, WanSettings

    settings = WanSettings.from_env(env)
    started = time.perf_counter()
    backend = WanBackend(settings)
    load_seconds = time.perf_counter() - started
    photo = _photo(width, height)
    backend.run(photo, kind=Kind.ANIMATE, instruction="A short video.", seed=0)
    seconds, model_seconds, size = [], [], 0
    for n in range(calls):
        started = time.perf_counter()
        output = backend.run(photo, kind=Kind.ANIMATE, instruction="A short video.", seed=n)
        seconds.append(time.perf_counter() - started)
        model_seconds.append(output.gpu_seconds)
        size = len(output.video or b"")
    return {
        "load_s": round(load_seconds, 2),
        "s_per_video": round(float(np.median(seconds)), 3),
        "model_s": round(float(np.median(model_seconds)), 3),
        "mp4_bytes": size,
        "frames": settings.frames,
        "steps": settings.steps,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def _run_child(env: dict[str, str], size: str, calls: int) -> dict[str, float]:
    done = subprocess.run(  # noqa: S603 -- our own module, arguments we built
        [sys.executable, "-m", "processing.runpod_worker.bench_wan", "--one", size, "--calls", str(calls)],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"wan bench at {size} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def cpu_figures(*, sizes: str, steps: int, frames: int, calls: int) -> None:
    """Print the tiny Wan pipeline's figures on CPU at each of ``sizes`` (WxH, comma-separated)."""
    from processing.runpod_worker.tiny_wan import save_pipeline

    threads = os.environ.get("OMP_NUM_THREADS") or str(os.cpu_count())
    with tempfile.TemporaryDirectory() as folder:
        tiny = save_pipeline(Path(folder) / "model")
        env = {
            **os.environ,
            "REKINDLE_MODEL_PATH": str(tiny),
            "REKINDLE_DEVICE": "cpu",
            "REKINDLE_DTYPE": "float32",
            "REKINDLE_MODEL_STEPS": str(steps),
            "REKINDLE_VIDEO_FRAMES": str(frames),
            "REKINDLE_LORA_PATH": "",
            "OMP_NUM_THREADS": threads,
        }
        print(
            f"tiny Wan 2.2 image-to-video (A14B layout) on CPU ({threads} threads), "
            f"{steps} steps, {frames} frames:"
        )
        for size in sizes.split(","):
            f = _run_child(env, size, calls)
            print(
                f"  {size:>9}: {f['s_per_video']:.3f} s per video ({f['model_s']:.3f} s in the model), "
                f"peak RSS {f['peak_rss_mb']} MB, MP4 {f['mp4_bytes']} B (load {f['load_s']} s)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="96x64,192x128", help="CPU frame sizes, WxH, comma-separated")
    parser.add_argument("--steps", type=int, default=2, help="denoising steps")
    parser.add_argument("--frames", type=int, default=9, help="frames per video (4k+1)")
    parser.add_argument("--calls", type=int, default=3, help="timed calls per size (after one untimed)")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        width, height = (int(v) for v in args.one.split("x"))
        print(json.dumps(measure(dict(os.environ), width, height, args.calls)))
        return
    cpu_figures(sizes=args.sizes, steps=args.steps, frames=args.frames, calls=args.calls)


if __name__ == "__main__":
    main()
