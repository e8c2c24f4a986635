"""``python -m processing.runpod_worker.bench``: seconds per call and peak memory of the
worker's qwen backend, then of its wan backend (processing/runpod_worker/bench_wan.py).

On CPU (always): the tiny random pipeline (processing/runpod_worker/tiny.py) at two output
sizes, each size in its own process so its peak RSS is its own. With a CUDA device: the model
at ``REKINDLE_MODEL_PATH`` (the tiny one when unset) at one megapixel, at the configured steps
and at the few-step schedule (``--fast-steps``, with ``REKINDLE_LORA_PATH`` when set), with
peak GPU memory. Prints figures; asserts nothing.
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

PHOTO_SEED = 0


def _photo(width: int, height: int) -> np.ndarray:
    """A smooth synthetic photo (gradients and a disc), so the numbers do not depend on files."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    r = (x / width * 255).astype(np.uint8)
    g = (y / height * 255).astype(np.uint8)
    b = (((x - width / 2) ** 2 + (y - height / 2) ** 2 < (min(width, height) / 3) ** 2) * 200).astype(
        np.uint8
    )
    return np.dstack([r, g, b])


def measure(env: dict[str, str], width: int, height: int, calls: int) -> dict[str, float]:
    """Load the backend with ``env``, one untimed call, then ``calls`` timed calls."""
    from processing.runpod_worker.backends import QwenBackend
    from processing.runpod_worker.pipeline import PipelineSettings

    settings = PipelineSettings.from_env(env)
    started = time.perf_counter()
    backend = QwenBackend(settings)
    load_seconds = time.perf_counter() - started
    photo = _photo(width, height)
    backend.generate([photo], instruction="Restore the old photo.", seed=PHOTO_SEED)
    seconds = []
    for n in range(calls):
        _, model_seconds = backend.generate([photo], instruction="Restore the old photo.", seed=n)
        seconds.append(model_seconds)
    figures = {
        "load_s": round(load_seconds, 2),
        "s_per_call": round(float(np.median(seconds)), 3),
        "steps": settings.steps,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    if settings.device.startswith("cuda"):
        import torch

        figures["peak_gpu_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    return figures


def _child(args: argparse.Namespace) -> None:
    width, height = (int(v) for v in args.one.split("x"))
    env = {**os.environ, "REKINDLE_MODEL_PIXELS": str(width * height)}
    print(json.dumps(measure(env, width, height, args.calls)))


def _run_child(env: dict[str, str], size: str, calls: int) -> dict[str, float]:
    done = subprocess.run(  # noqa: S603 -- our own module, arguments we built
        [sys.executable, "-m", "processing.runpod_worker.bench", "--one", size, "--calls", str(calls)],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"bench at {size} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="96x64,192x128", help="CPU output sizes, WxH, comma-separated")
    parser.add_argument("--steps", type=int, default=4, help="denoising steps on CPU")
    parser.add_argument("--calls", type=int, default=3, help="timed calls per size (after one untimed)")
    parser.add_argument("--fast-steps", type=int, default=8, help="the few-step schedule on CUDA")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        _child(args)
        return

    from processing.runpod_worker.tiny import save_pipeline

    threads = os.environ.get("OMP_NUM_THREADS") or str(os.cpu_count())
    with tempfile.TemporaryDirectory() as folder:
        tiny = save_pipeline(Path(folder) / "model")
        cpu_env = {
            **os.environ,
            "REKINDLE_MODEL_PATH": str(tiny),
            "REKINDLE_DEVICE": "cpu",
            "REKINDLE_DTYPE": "float32",
            "REKINDLE_MODEL_STEPS": str(args.steps),
            "REKINDLE_LORA_PATH": "",
            "OMP_NUM_THREADS": threads,
        }
        print(
            f"tiny Qwen-Image-Edit on CPU ({threads} threads), {args.steps} steps, "
            "true CFG (2 passes per step):"
        )
        for size in args.sizes.split(","):
            figures = _run_child(cpu_env, size, args.calls)
            print(
                f"  {size:>9}: {figures['s_per_call']:.3f} s per call, peak RSS {figures['peak_rss_mb']} MB "
                f"(load {figures['load_s']} s)"
            )

        from processing.runpod_worker.bench_wan import cpu_figures

        cpu_figures(sizes=args.sizes, steps=2, frames=9, calls=args.calls)

        import torch

        if not torch.cuda.is_available():
            print("no CUDA device: GPU figures skipped")
            return
        model = os.environ.get("REKINDLE_MODEL_PATH") or str(tiny)
        gpu_env = {**os.environ, "REKINDLE_MODEL_PATH": model, "REKINDLE_DEVICE": "cuda"}
        print(f"{model} on {torch.cuda.get_device_name()} at 1 MP:")
        for label, steps, lora in (
            ("full schedule", gpu_env.get("REKINDLE_MODEL_STEPS", "40"), ""),
            ("few-step", str(args.fast_steps), os.environ.get("REKINDLE_LORA_PATH", "")),
        ):
            env = {**gpu_env, "REKINDLE_MODEL_STEPS": steps, "REKINDLE_LORA_PATH": lora}
            figures = _run_child(env, "1024x1024", args.calls)
            print(
                f"  {label} ({steps} steps{', LoRA' if lora else ''}): "
                f"{figures['s_per_call']:.2f} s per image, peak GPU memory {figures.get('peak_gpu_gb')} GB"
            )


if __name__ == "__main__":
    main()
