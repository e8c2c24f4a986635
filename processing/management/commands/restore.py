"""Restore one image file from the command line, with the same pipeline as the service.

manage.py restore old.jpg -o new.jpg --kind restore_colourize [--engine local|runpod] [--max 720|480]
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from PIL import Image

from photos import imaging
from processing.engines.base import EngineError, EngineRequest, get_engine
from processing.engines.codec import expected_size
from processing.kinds import job_first_step
from processing.quality import QualityCheckFailed, quality_check

CAPS = {"720": settings.JOB_SIZE_CAP_PAID, "480": settings.JOB_SIZE_CAP_FREE}


class Command(BaseCommand):
    help = "Preprocess an image file and run an engine on it, writing the result to OUTPUT."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("input", type=Path)
        parser.add_argument("-o", "--output", type=Path, required=True)
        parser.add_argument(
            "--kind", choices=["restore", "colourize", "restore_colourize"], default="restore"
        )
        parser.add_argument("--engine", choices=["local", "runpod"], default=settings.ENGINE)
        parser.add_argument(
            "--max", choices=sorted(CAPS), default="720", help="size cap: 720p (paid) or 480p (free)"
        )
        parser.add_argument(
            "--quad", help='corners as JSON, e.g. "[[0.1,0.1],[0.9,0.1],[0.9,0.9],[0.1,0.9]]"'
        )
        parser.add_argument("--hints", default=None, help="colour hints for the AI engine")

    def handle(self, *args: Any, **opts: Any) -> None:
        source: Path = opts["input"]
        if not source.is_file():
            raise CommandError(f"No such file: {source}")
        if opts["output"].suffix.lower() not in (".jpg", ".jpeg", ".png", ".webp"):
            raise CommandError("OUTPUT must end in .jpg, .png or .webp")
        quad = None
        if opts["quad"]:
            try:
                quad = imaging.validate_quad(json.loads(opts["quad"]))
            except (ValueError, json.JSONDecodeError) as exc:
                raise CommandError(f"Bad --quad: {exc}") from exc
        cap = CAPS[opts["max"]]
        started = time.perf_counter()
        try:
            with source.open("rb") as fh:
                prepared = imaging.prepare(fh, quad=quad)
        except imaging.ImageRefused as exc:
            raise CommandError(f"{source}: {exc}") from exc
        fitted = np.asarray(imaging.fit_within(prepared.image, cap))
        image, keep_tone = job_first_step(fitted, kind=opts["kind"])
        request = EngineRequest(
            image=image, kind=opts["kind"], max_size=cap, hints=opts["hints"], keep_tone=keep_tone
        )
        try:
            result = get_engine(opts["engine"]).run(request)
            quality_check(image, result.image, expected_size(image, cap))
        except (EngineError, QualityCheckFailed) as exc:
            raise CommandError(f"The engine failed: {getattr(exc, 'message', None) or exc}") from exc
        opts["output"].parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(result.image).save(opts["output"], quality=92)
        elapsed = time.perf_counter() - started
        h, w = result.image.shape[:2]
        self.stdout.write(
            f"{opts['output']}: {w}x{h}, {opts['kind']} with the {result.engine} engine in {elapsed:.2f} s"
            + (f" (straightened: {prepared.quad_source})" if prepared.quad_source else "")
        )
        for note in result.notes:
            self.stdout.write(f"note: {note}")
