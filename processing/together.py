"""Bring together, server side: the quality check of a new picture made from two or three
photos (the picture work itself is in processing/engines/together.py, shared with the worker).

The new picture is a composition of its own, so the usual check (still the same photo, lined up
with it) does not apply. It passes when it decodes, has exactly the expected size, is not blank,
is not a copy of one of its inputs (lightness SSIM to each input, at the result's shape, under
``COPY_CEILING``) and shows at least as many faces as its inputs have people, where the inputs'
faces can be found at all.
"""

from __future__ import annotations

import numpy as np

from processing.engines import together
from processing.engines.base import EngineResult
from processing.engines.codec import resize_to
from processing.quality import QualityCheckFailed, quality_check, structural_similarity

# Lightness SSIM (processing.quality.structural_similarity) of a result against one input
# stretched to its shape: an input handed back as it is (or barely changed) scores above 0.9;
# the local stand-in's side-by-side composite scores under 0.35 against each input, and a new
# composition lower still (tests/processing/test_together.py measures both).
COPY_CEILING = 0.8
# The result's faces are counted leniently: people in a new picture may differ in size.
RESULT_FACE_MIN_RELATIVE = 0.25


def input_people(inputs: list[np.ndarray]) -> int:
    """How many people the inputs show, as far as the face detector can tell (0: none found)."""
    return sum(together.count_faces(image) for image in inputs)


def together_check(inputs: list[np.ndarray], result: EngineResult, size: tuple[int, int]) -> None:
    """Raise QualityCheckFailed unless ``result`` is a fit new picture of ``inputs``."""
    image = result.image
    # Decodes, RGB, exactly ``size``, not blank; its structure is compared with itself here,
    # because the likeness to an input is what must NOT be too high (below).
    quality_check(image, image, size)
    width, height = size
    for position, picture in enumerate(inputs, start=1):
        if structural_similarity(resize_to(picture, (width, height)), image) > COPY_CEILING:
            raise QualityCheckFailed(
                f"The result is a copy of picture {position}, not a new picture.", code="result_copy_of_input"
            )
    people = input_people(inputs)
    if people:
        found = together.count_faces(image, min_relative=RESULT_FACE_MIN_RELATIVE)
        if found < people:
            raise QualityCheckFailed(
                f"The result shows {found} of the {people} people in the photos.", code="result_faces_missing"
            )


def together_result_size(inputs: list[np.ndarray], max_size: tuple[int, int]) -> tuple[int, int]:
    return together.result_size(inputs, max_size)
