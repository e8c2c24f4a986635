"""The evaluation photo set for the local engine: 41 real photographs that ship inside
packages, with where each comes from and its licence, and the seeded tuning/evaluation split.

The photos are read from the installed packages at run time, never copied into this repo:
scikit-image's bundled data (a development dependency, requirements-dev.txt) and three Debian
packages installed by scripts/system-deps.sh (lomiri-wallpapers-16.04, mate-backgrounds,
python-matplotlib-data). ``load`` says which package to install when a file is missing.

The split is fixed by ``SPLIT_SEED``: each photo's place comes from a hash of the seed and its
name, so adding a photo never moves another one between halves. Tune only on ``tuning()``;
``manage.py engine_eval`` reports ``evaluation()`` unless asked otherwise. Pure numpy/OpenCV.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

SPLIT_SEED = 20261130
# Photos are shrunk so their long side is at most this (a phone-sized restore, and the whole
# evaluation half runs in a couple of minutes on one core).
EVAL_SIDE = 640

LOMIRI = "/usr/share/backgrounds"
MATE = "/usr/share/backgrounds/mate/nature"
LOMIRI_COPYRIGHT = "/usr/share/doc/lomiri-wallpapers-16.04/copyright"
MATE_COPYRIGHT = "/usr/share/doc/mate-backgrounds/copyright"


@dataclass(frozen=True)
class Photo:
    """One photo of the set: where it is, who made it and under what licence."""

    name: str
    package: str  # "pypi:NAME" or "debian:NAME"
    path: str  # inside the installed package (scikit-image: the data file name)
    licence: str
    source: str
    subject: str  # portrait, landscape, interior, object, night, text, texture, nature

    @property
    def colour(self) -> bool:
        return self.name not in MONOCHROME


MONOCHROME = {"camera", "coins", "moon", "page", "clock", "grass", "gravel", "brick"}

SKIMAGE = "pypi:scikit-image"
PHOTOS: tuple[Photo, ...] = (
    Photo(
        "astronaut",
        SKIMAGE,
        "astronaut.png",
        "public domain (NASA)",
        "NASA Great Images, Eileen Collins",
        "portrait",
    ),
    Photo("camera", SKIMAGE, "camera.png", "CC0-1.0", "Lav Varshney", "portrait"),
    Photo("chelsea", SKIMAGE, "chelsea.png", "CC0-1.0", "Stefan van der Walt", "animal"),
    Photo("coffee", SKIMAGE, "coffee.png", "CC0-1.0", "Rachel Michetti", "object"),
    Photo(
        "coins",
        SKIMAGE,
        "coins.png",
        "no known copyright restrictions",
        "Brooklyn Museum collection",
        "object",
    ),
    Photo(
        "motorcycle",
        SKIMAGE,
        "motorcycle_left.png",
        "BSD-3-Clause (scikit-image)",
        "Middlebury stereo data set",
        "interior",
    ),
    Photo("rocket", SKIMAGE, "rocket.jpg", "public domain (SpaceX)", "SpaceX photos", "landscape"),
    Photo("moon", SKIMAGE, "moon.png", "BSD-3-Clause (scikit-image)", "scikit-image data", "night"),
    Photo(
        "page", SKIMAGE, "page.png", "BSD-3-Clause (scikit-image)", "scikit-image data (scanned page)", "text"
    ),
    Photo("hubble", SKIMAGE, "hubble_deep_field.jpg", "public domain (NASA)", "HubbleSite, 2012-37", "night"),
    Photo(
        "clock",
        SKIMAGE,
        "clock_motion.png",
        "public domain",
        "Stefan van der Walt (motion blurred)",
        "interior",
    ),
    Photo("brick", SKIMAGE, "brick.png", "CC0-1.0", "CC0Textures Bricks25", "texture"),
    Photo("grass", SKIMAGE, "grass.png", "CC0-1.0", "linolafett, DeviantArt Grass-01", "texture"),
    Photo("gravel", SKIMAGE, "gravel.png", "CC0-1.0", "CC0Textures Gravel04", "texture"),
    Photo(
        "grace_hopper",
        "debian:python-matplotlib-data",
        "/usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg",
        "public domain (U.S. Navy photograph)",
        "matplotlib sample data",
        "portrait",
    ),
    *(
        Photo(name, "debian:lomiri-wallpapers-16.04", f"{LOMIRI}/{file}", licence, author, subject)
        for name, file, licence, author, subject in (
            ("bridge", "Bridge_by_Sander_Klootwijk.jpg", "CC-BY-SA-4.0", "Sander Klootwijk", "landscape"),
            ("dragonfly", "Dragonfly_by_Bolly.jpg", "CC-BY-SA-4.0", "Bolly", "nature"),
            ("fig", "Picture_0B_by_freespace.jpg", "CC-BY-4.0", "Trevor 'Freespace'", "object"),
            ("brushes", "Picture_1A_by_freespace.jpg", "CC-BY-4.0", "Trevor 'Freespace'", "object"),
            ("wine", "Wine_by_Jakkub_Mede.jpg", "CC-BY-SA-4.0", "Jakkub Mede", "interior"),
            (
                "aitzgorri",
                "aitzgorri_by_Aitzol_Berasategi.jpg",
                "CC-BY-4.0",
                "Aitzol Berasategi",
                "landscape",
            ),
            ("analog", "analogpattern_by_Peter_Nerlich.jpg", "CC-BY-SA-4.0", "Peter Nerlich", "texture"),
            ("lamp", "free_by_Peter_Nerlich.jpg", "CC-BY-SA-4.0", "Peter Nerlich", "interior"),
            ("gloves", "friends_by_Aitzol_Berasategi.jpg", "CC-BY-4.0", "Aitzol Berasategi", "object"),
            ("wall_clock", "greentock_by_Peter_Nerlich.jpg", "CC-BY-SA-4.0", "Peter Nerlich", "interior"),
            ("stream", "life_by_Aitzol_Berasategi.jpg", "CC-BY-4.0", "Aitzol Berasategi", "landscape"),
            (
                "picos",
                "picosdeeuropa_by_Aitzol_Berasategi.jpg",
                "CC-BY-4.0",
                "Aitzol Berasategi",
                "landscape",
            ),
            ("dandelions", "seeding_by_Clements_Engelhardt.jpg", "CC0-1.0", "Clemens Engelhardt", "nature"),
            ("sunset", "sunset_by_Aitzol_Berasategi.jpg", "CC-BY-4.0", "Aitzol Berasategi", "night"),
        )
    ),
    *(
        Photo(name, "debian:mate-backgrounds", f"{MATE}/{file}", "GPL-2+", "MATE desktop artwork", subject)
        for name, file, subject in (
            ("water_drop", "Aqua.jpg", "object"),
            ("leaf", "Blinds.jpg", "nature"),
            ("dune", "Dune.jpg", "landscape"),
            ("red_flower", "FreshFlower.jpg", "nature"),
            ("marigold", "Garden.jpg", "nature"),
            ("meadow", "GreenMeadow.jpg", "nature"),
            ("ladybird", "LadyBird.jpg", "nature"),
            ("raindrops", "RainDrops.jpg", "nature"),
            ("storm", "Storm.jpg", "landscape"),
            ("seed_head", "TwoWings.jpg", "nature"),
            ("wood", "Wood.jpg", "texture"),
            ("yellow_flower", "YellowFlower.jpg", "nature"),
        )
    ),
)


# More tuning photos, added after the evaluation half had been reported six times: the tuning
# half was tuned to the full (every target met on ten damage seeds) while the evaluation half
# still missed two, so the engine needed photos it had not been fitted to, and the evaluation
# half must not be that. These are never in the 41-photo split and never evaluated against;
# ``engine_eval --half extra`` reports them. They need packages the suite does not install:
# ``apt-get install plasma-workspace-wallpapers lomiri-wallpapers-20.04`` and
# ``pip install scikit-learn``.
PLASMA = "/usr/share/wallpapers"
LOMIRI_2004 = "/usr/share/backgrounds"
SKLEARN = "pypi:scikit-learn"
EXTRA_TUNING: tuple[Photo, ...] = (
    *(
        Photo(
            name,
            "debian:plasma-workspace-wallpapers",
            f"{PLASMA}/{folder}/contents/images/{size}.jpg",
            licence,
            f"{author} (KDE Plasma wallpaper {folder!r})",
            subject,
        )
        for name, folder, size, licence, author, subject in (
            ("bythewater", "BytheWater", "2560x1440", "LGPL-3", "Maciej Wiklo", "landscape"),
            ("coldripple", "ColdRipple", "2560x1440", "LGPL-3", "Risto Saukonpää", "landscape"),
            ("colorfulcups", "ColorfulCups", "2560x1600", "LGPL-3", "Dmitri Popov", "object"),
            ("darkesthour", "DarkestHour", "2560x1440", "LGPL-3", "Risto Saukonpää", "night"),
            ("eveningglow", "EveningGlow", "2560x1440", "LGPL-3", "Ian Hex", "landscape"),
            ("fallenleaf", "FallenLeaf", "2560x1440", "LGPL-3", "Martin Klapetek", "nature"),
            ("grey", "Grey", "2560x1440", "LGPL-3", "Sigi Sagi", "interior"),
            ("onestandsout", "OneStandsOut", "2560x1440", "LGPL-3", "Risto Saukonpää", "texture"),
            ("path", "Path", "2560x1440", "LGPL-3", "Risto Saukonpää", "nature"),
            ("shell", "Shell", "5120x2880", "CC-BY-SA-4.0", "Lucas Andrade", "landscape"),
            ("summer_1am", "summer_1am", "2560x1440", "LGPL-3", "Risto Saukonpää", "night"),
            ("flow", "Flow", "5120x2880", "CC-BY-SA-4.0", "Sandra Smukaste", "landscape"),
        )
    ),
    Photo("china", SKLEARN, "china.jpg", "CC-BY-2.0", "danielbuechele, Flickr", "landscape"),
    Photo("flower", SKLEARN, "flower.jpg", "CC-BY-2.0", "vultilion, Flickr", "nature"),
    Photo(
        "sea_stars",
        "debian:lomiri-wallpapers-20.04",
        f"{LOMIRI_2004}/Infinite-Sea_by_Aury88.jpg",
        "CC-BY-SA-3.0",
        "Aury88",
        "night",
    ),
    Photo(
        "bark_bird",
        "debian:lomiri-wallpapers-20.04",
        f"{LOMIRI_2004}/Kleiber_by_Lukas_Baubkus.jpg",
        "CC-BY-SA-3.0",
        "Lukas Baubkus",
        "nature",
    ),
    Photo("handwriting", SKIMAGE, "text.png", "public domain", "scikit-image data", "text"),
    Photo("retina", SKIMAGE, "retina.jpg", "CC0-1.0", "Häggström, Wikimedia Commons", "object"),
    Photo("ihc", SKIMAGE, "ihc.png", "no known copyright restrictions", "scikit-image data", "object"),
    Photo("cell", SKIMAGE, "cell.png", "CC0-1.0", "Guck lab, scikit-image data", "object"),
)


# A second held-out set, never looked at while tuning: real photos from OpenCV's samples (the
# Debian package opencv-doc), added after the evaluation half had been reported seven times,
# so there is again a measure of photos the engine was not fitted to (``engine_eval --half
# fresh``). Never tune on it; each run of it is counted in docs/architecture.md.
# It needs ``apt-get install opencv-doc``. (The OpenCV sample set's Lena is left out, as
# Debian leaves it out.)
OPENCV_SAMPLES = "/usr/share/doc/opencv-doc/examples/data"
OPENCV_LICENCE = "Apache-2.0 AND BSD-3-Clause (OpenCV, per Debian's copyright file)"
FRESH: tuple[Photo, ...] = tuple(
    Photo(name, "debian:opencv-doc", f"{OPENCV_SAMPLES}/{file}", OPENCV_LICENCE, "OpenCV samples", subject)
    for name, file, subject in (
        ("aerial_city", "aero1.jpg", "landscape"),
        ("aerial_suburb", "aero3.jpg", "landscape"),
        ("aloe", "aloeL.jpg", "object"),
        ("apple", "apple.jpg", "object"),
        ("baboon", "baboon.jpg", "animal"),
        ("blocks", "blox.jpg", "object"),
        ("circuit_board", "board.jpg", "object"),
        ("building", "building.jpg", "landscape"),
        ("butterfly", "butterfly.jpg", "nature"),
        ("fruits", "fruits.jpg", "object"),
        ("palace", "home.jpg", "landscape"),
        ("old_street", "leuvenA.jpg", "landscape"),
        ("footballer", "messi5.jpg", "portrait"),
        ("orange", "orange.jpg", "object"),
        ("squirrel", "squirrel_cls.jpg", "animal"),
        ("desk", "stuff.jpg", "interior"),
        ("house_plant", "../alphamat/input_images/plant.jpg", "interior"),
        ("blurred_text", "text_defocus.jpg", "text"),
        ("sweets", "smarties.png", "object"),
        ("sudoku", "sudoku.png", "text"),
        ("toys", "rubberwhale1.png", "interior"),
        ("players", "basketball1.png", "group"),
        ("dog", "chicky_512.png", "animal"),
    )
)


# Every photo any report can name, in a fixed order (a photo's damage seed is its place here).
EVERY: tuple[Photo, ...] = (*PHOTOS, *EXTRA_TUNING, *FRESH)


class PhotoMissing(RuntimeError):
    """A photo of the set is not installed; the message says which package brings it."""


def half_of(photo: Photo, seed: int = SPLIT_SEED) -> str:
    """``"tuning"`` or ``"evaluation"``: the lower half of the seeded hash order tunes."""
    return "tuning" if photo in tuning(seed) else "evaluation"


def _order(seed: int) -> list[Photo]:
    def key(photo: Photo) -> str:
        return hashlib.sha256(f"{seed}:{photo.name}".encode()).hexdigest()

    return sorted(PHOTOS, key=key)


def photos_of(half: str) -> list[Photo]:
    """The photos ``engine_eval --half`` names: a half of the split, all 41, or a set beside it."""
    return {
        "evaluation": evaluation,
        "tuning": tuning,
        "all": lambda: sorted(PHOTOS, key=lambda p: p.name),
        "extra": lambda: list(EXTRA_TUNING),
        "fresh": lambda: list(FRESH),
    }[half]()


def tuning(seed: int = SPLIT_SEED) -> list[Photo]:
    """The photos the engine may be tuned on (the first half of the seeded order)."""
    ordered = _order(seed)
    return sorted(ordered[: len(ordered) // 2], key=lambda p: p.name)


def evaluation(seed: int = SPLIT_SEED) -> list[Photo]:
    """The held-out photos ``engine_eval`` reports by default (never tune on these)."""
    ordered = _order(seed)
    return sorted(ordered[len(ordered) // 2 :], key=lambda p: p.name)


def by_name(name: str) -> Photo:
    for photo in EVERY:
        if photo.name == name:
            return photo
    raise KeyError(f"No photo named {name!r} in the evaluation set.")


def load(photo: Photo, *, side: int = EVAL_SIDE) -> np.ndarray:
    """The photo as RGB uint8, its long side shrunk to at most ``side`` pixels."""
    if photo.package == SKIMAGE:
        try:
            import skimage.data
        except ImportError as exc:
            raise PhotoMissing("scikit-image is missing: pip install -r requirements-dev.txt") from exc
        path = Path(skimage.data.__file__).parent / photo.path
        package = "scikit-image (pip install -r requirements-dev.txt)"
    elif photo.package == SKLEARN:
        try:
            import sklearn.datasets
        except ImportError as exc:
            raise PhotoMissing("scikit-learn is missing: pip install scikit-learn") from exc
        path = Path(sklearn.datasets.__file__).parent / "images" / photo.path
        package = "scikit-learn (pip install scikit-learn)"
    else:
        path = Path(photo.path)
        name = photo.package.split(":", 1)[1]
        how = "bash scripts/system-deps.sh" if photo in PHOTOS else f"apt-get install {name}"
        package = f"the Debian package {name} ({how})"
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise PhotoMissing(f"Photo {photo.name!r} ({path}) is missing: install {package}.")
    image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    height, width = image.shape[:2]
    factor = side / max(height, width)
    if factor < 1:
        image = cv2.resize(
            image, (round(width * factor), round(height * factor)), interpolation=cv2.INTER_AREA
        )
    return image
