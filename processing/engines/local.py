"""The local engine: classical OpenCV restoration that runs anywhere, no GPU, no model.

It measures the photo first (grain, fading, colour cast, dust and scratch density, softness)
and only applies a step when the measurement says the photo needs it, scaled by how much it
needs it. A clean photo therefore comes back nearly unchanged: over-smoothed "plastic"
results are what people dislike most in other restorers.

Steps, in order: denoise (non-local means on lightness, eased where the fine detail is texture;
light blur on colour) → dust, scratch, crease and tear repair (top-hat detection of specks on
lightness, kept where they prove to be dirt; an oriented line detector for long thin scratches
and creases of any angle; flat paper-white patches at the edge for tears and missing corners;
all inpainted) → colour cast (white balance on the near-grey pixels, colour only) → contrast
(faded lightness spread about its median) → gentle unsharp mask. Colourizing a grayscale photo
is beyond a classical pipeline: it applies a warm, lightness-dependent tint and says so in the
result notes.

Pure numpy/OpenCV, no Django: the RunPod worker's "local" backend runs this same code.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from processing.engines import together
from processing.engines.base import EngineRequest, EngineResult, Kind
from processing.engines.codec import resize_to_fit
from processing.engines.living import NOTE_NOT_AI, living_photo
from processing.engines.video import even_size, video_length

NAME = "local"
MODEL = "opencv-classical"

NOTE_NO_HINTS = "The local engine cannot use colour hints; they were ignored."
NOTE_TINT = (
    "The local engine cannot colourize: it applied a classical warm tint to the black-and-white photo."
)
NOTE_ALREADY_COLOUR = "The photo already has colour, so the local engine kept its own colours."
# What a restore did, in words, for the job page (``restore_note``): each step that ran, or why
# little or nothing changed (a clean photo, or the safeguard backing off).
STEP_WORDS = {
    "denoise": "reduced the grain",
    "dust_and_scratches": "removed dust and specks",
    "long_scratches": "repaired long scratches and creases",
    "tears": "filled torn paper and missing corners",
    "colour": "took out the colour cast",
    "contrast": "brought back faded contrast",
    "sharpen": "sharpened gently",
}
NOTE_CLEAN = "The photo measured clean, so the local engine left it as it was."
NOTE_CLEAN_SPECKS = (
    "The photo measured clean, so the local engine left it essentially as it was: on a photo like "
    "this it only repairs isolated dust specks."
)
NOTE_HELD_BACK_LINES = "It left some long lines alone: they looked like part of the picture."
NOTE_HELD_BACK_MARKS = "It left marks and lines alone: repairing them would have changed the picture itself."
# The safeguard's partial back-offs (``restore``), said after what the engine did.
NOTES_HELD_BACK = {"safeguard_no_lines": NOTE_HELD_BACK_LINES, "safeguard_no_repairs": NOTE_HELD_BACK_MARKS}
NOTE_UNCHANGED = (
    "The local engine's repairs would have changed the picture itself, not its damage, so it "
    "returned the photo as it was."
)

# Gates (0-255 units on lightness). Below NOISE_GATE grain is left alone: denoising a clean
# photo only blurs it. It is also what tells an old print from a clean digital photo: on the
# tuning half of the photo set clean photos measure 1-4 (one gravel texture 12), aged ones 3.1-11;
# grain evenness and colour cast below tell the clean textured ones apart.
NOISE_GATE = 2.7
# A print whose darkest tones (1st percentile of lightness) are lighter than this has faded:
# clean photos, even soft or dark ones, keep blacks below it (engine_eval shows 0-27).
FADE_BLACK = 30.0
# On a grainy photo, lifted blacks count as fading (a sign of age, ``age_signs``) only with a
# tint on the near-grey pixels (``grey_gains`` at least this far from 1): grain and high blacks
# are what a light film photo has, and a faded print has yellowed or shifted as well. Grainy
# film originals of light photos (ladybird, fallenleaf, shell: too few grey pixels to show a
# tint) were otherwise taken for old prints: on the tuning half and the extra photos (damage
# seeds 1-8, ``--originals film``) clean photos at SSIM >= 0.95 to their restoration 83.4% ->
# 91.6%; aged photos' mean gain +0.1763 -> +0.1756 (sea_stars with seed 6, no grey pixels to
# judge by, +0.207 -> +0.003), none worse. A worn print without grain needs WORN_SIGNS signs
# anyway, and its fading counts as before.
FADE_TINT = 0.01
# Mid-tone colour that varies independently of lightness (Lab units); below this the photo is
# black and white, possibly toned or yellowed.
MONO_CHROMA = 3.0
# Where the fine detail is texture, not grain (``texture_ratio``: aged tuning photos 1.0-1.8,
# gravel 2.3-2.8), the grain measure counts texture too, and denoising at its full strength
# wipes it out (gravel: -0.07 to -0.09 SSIM for that step). Denoising targets less of it, down
# to TEXTURE_DENOISE_MIN of the measure. The ramp began at 2.1 until the extra tuning photos
# (photoset.EXTRA_TUNING) showed a forest seen from above, texture edge to edge at ratio
# 1.7-2.1, losing up to -0.054 SSIM to full-strength denoising; from 1.7 it loses at most
# -0.004 (damage seeds 1-8), and the tuning half keeps every photo improved.
TEXTURE_RATIO_LOW = 1.7
TEXTURE_RATIO_HIGH = 2.5
TEXTURE_DENOISE_MIN = 0.6
# Fraction of pixels flagged as dust/scratch before we inpaint; fewer is fine detail.
DEFECT_GATE = 0.0005
# Largest dust speck or scratch width we look for, in pixels at 720p.
DEFECT_KERNEL = 11
# Largest dust speck, in pixels at 720p, and how elongated a stroke must be to be a scratch.
SPECK_AREA = 160
LINE_ELONGATION = 4.0
# A mark must be this many times stronger than the texture around it to count as dirt.
SURROUND_RATIO = 5.0
# Long scratches and creases: the line detector averages thin-mark strength along LINE_LENGTH
# pixels (at 720p) in LINE_ANGLES directions; a stroke must be this long in all to count.
LINE_LENGTH = 31
LINE_ANGLES = 8
LINE_MIN_EXTENT = 90
LINE_ELONGATION_MIN = 4.0
LINE_AREA_PER_LENGTH = 6.0
# Line strength (lightness units) a stroke needs over its surroundings, at least; the detector
# also asks for LINE_NOISE times the residual grain.
LINE_CONTRAST = 22.0
LINE_NOISE = 5.0
# Torn paper and missing corners: flat (grain-free), bright, pale patches touching the edge of
# a photo that has grain elsewhere, no bigger than TEAR_MAX_FRACTION of it.
TEAR_LIGHTNESS = 200
TEAR_FLATNESS = 2.5
TEAR_MIN_AREA = 20
TEAR_MAX_FRACTION = 0.05
# The flat patch grows over neighbours within TEAR_TONE of its paper tone, TEAR_GROW px at most.
TEAR_TONE = 12.0
TEAR_GROW = 6
# Torn paper is filled by inpainting a copy of the photo this many pixels on its long side.
TEAR_FILL_SIDE = 128
# How far faded tones are stretched back (1 = up to TONE_MAX_GAIN): a full stretch overshoots
# photos whose own range was narrow.
TONE_STRENGTH = 0.85
# Most a faded photo's lightness is spread (about its median): fading loses a bounded share of
# contrast, so a photo narrower than that was narrow to begin with (brick, wood grain, fog).
# On the tuning half (3 damage seeds) 1.6 leaves every photo better; unbounded, brick lost 0.10.
TONE_MAX_GAIN = 1.6
# Sharpening gives back some crispness after denoising, lightly: at 0.4 it cost 0.015 SSIM on
# average on the tuning half (up to 0.08 on the moon's smooth grey), at 0.15 under 0.004.
SHARPEN_AMOUNT = 0.15
# Film grain covers the whole print evenly; a clean photo's fine texture (foliage, gravel, a
# starfield) sits in parts of it. Grain counts only when the calmer tiles of a 6x6 grid (the
# 20th percentile) measure at least GRAIN_UNIFORMITY of the median tile: on the tuning half aged
# photos measure 0.80-0.98, clean textured ones 0.11-0.72 (gravel, a texture edge to edge, 0.90).
GRAIN_TILES = 6
GRAIN_UNIFORMITY = 0.8
# Detectors that flag more than this share of a photo are reading picture, not damage (text
# rows, brick mortar, gravel): on the tuning half real scratches and creases cover 1-8% of an
# aged photo, a scanned text page 20-25%. On a clean photo dust is a few isolated specks.
LINE_MAX_FRACTION = 0.10
DEFECT_MAX_FRACTION = 0.06
CLEAN_DEFECT_MAX_FRACTION = 0.015
# The final safeguard: structure (the tone-blind part of SSIM) of input and restoration, both
# blurred past the grain. Below STRUCTURE_GUARD the repairs changed the picture itself, so it is
# restored again without the long-line repairs (the ones most likely to take picture for
# damage), then without any; if even that stays below, the input is returned as it was.
STRUCTURE_GUARD = 0.85
# Colour cast: white balance on the near-grey pixels (spread between channels under GREY_CHROMA
# of their level), trusted only when at least GREY_SHARE of the photo is near grey, gains within
# CAST_MAX_GAIN, applied CAST_STRENGTH of the way. Tuning half (4 damage seeds and 2x crops):
# the per-channel black-to-white stretch this replaces cost up to -0.08 SSIM (a landscape's
# blue channel stretched to full range); this step costs at most -0.027, -0.004 on average.
GREY_CHROMA = 0.12
GREY_SHARE = 0.2
CAST_MAX_GAIN = 1.45
CAST_STRENGTH = 0.7
# A photo with no colour at all (black and white, and its channels' black and white points
# within NEUTRAL_CAST of each other) is a digital file, not an old print: age leaves paper and
# dyes yellowed or magenta (aged black-and-white photos of the tuning half measure 7-39).
NEUTRAL_CAST = 3.0
# Even grain alone does not make an old print: clean film photos are grainy too, and a warm
# white balance is not age. The full treatment needs AGE_SIGNS more independent signs among
# lifted blacks, dust specks, long scratches and torn paper (each within its detector's limits):
# on the tuning half every aged photo shows 2-4 (3 damage seeds, 60 photos); of its clean
# photos given even grain and a warm cast (sigma 4 and 7), 27 of the 34 that measure grainy show
# fewer and are left alone (in the rest naturally light tones pass for fading, and real thin
# lines for scratches).
AGE_SIGNS = 2
# A print without measurable grain needs more: WORN_SIGNS of them. Tuning half and the extra
# tuning photos, damage seeds 0-8 with 2x crops (84 clean and 672 aged pictures): no clean
# picture shows more than 2 (a texture's or a landscape's own lines and light tones pass for
# scratches and fading), 9 of the 10 aged ones that do not measure grainy show 3-4 and gain
# +0.026 to +0.115 SSIM restored as prints (they were returned unchanged).
WORN_SIGNS = 3
# Dust and scratches count as a sign only in the amounts age leaves: a grainy clean photo's
# detectors flag a few fine details (tuning half: aged photos 1.0-8.7% dust, 0.9-7.6% lines).
DUST_SIGN = 0.009
LINE_SIGN = 0.008
# Real dust is near black or paper white, outside a faded print's own tones; the fine detail a
# clean photo's detector flags sits within them. Share of the photo flagged as specks that are
# darker than its 1st or lighter than its 99th percentile: tuning half aged 0.20-1.4%, clean
# photos given grain 0.01-0.30% (gravel's and moon's own dark pits up to 0.77%).
DUST_OUTSIDE_SIGN = 0.0018
# The same test decides, mark by mark, which flagged specks are inpainted: at least this share
# of a mark's pixels outside the photo's 2nd-98th percentile. On the tuning half (4 damage
# seeds) this keeps gravel's own pebbles (inpainting them cost it up to -0.05 SSIM) and loses
# no photo more than 0.01.
MARK_OUTSIDE_SHARE = 0.2
MARK_LOCAL_CONTRAST = 0.3
# The same test for the long-line detector's strokes once they are dense (over LINE_DENSE of
# the photo: printed lines of a form, a dial or a building taken for scratches), with a lower
# share (a scratch crossing a light part of the picture lies within its tones there), judged
# in LINE_PIECE px pieces (crossing scratches join into one network; a glare or a sky around
# part of it must not excuse the rest) against a ring LINE_RING_GAP px clear of the stroke
# (its own antialiased edge is nearly as bright). On every stroke it cost the tuning half
# 1.5 points of scratch recall and left scratches across faces; gated on density, with the
# texture ramp above: tuning half (10 damage seeds) improved 99.0% -> 99.0%, mean gain
# +0.2006 -> +0.2004, recall 84.6% -> 84.3%; extra tuning photos (8 seeds) improved 95.0% ->
# 96.9%, photos worse by over 0.01: 3 -> 1, mean gain +0.181 -> +0.183, recall 81.8% -> 82.8%.
LINE_DENSE = 0.05
LINE_OUTSIDE_SHARE = 0.1
LINE_LOCAL_CONTRAST = 0.3
LINE_RING_GAP = 2
LINE_PIECE = 32
# Denoising gives back GRAIN_KEEP of the grain it took out of lightness (the input blended in):
# a little grain is what keeps a restored print from the "painted" look, and the original the
# print was made from was film, grainy itself. Tuning half and extra tuning photos aged from
# grainy originals (engine_eval --originals film, damage seeds 1-8, 320 photos): fully
# denoised, 9 came back worse than aged by over 0.01 (-0.112 at worst); at 0.2, 3 (-0.049).
# On grain-free originals (320 photos) the mean gain falls from +0.202 to +0.164 and none is
# worse. Scratches and dust are still looked for on the fully denoised photo.
GRAIN_KEEP = 0.2
# Grain on a photo whose fine detail is not texture (``texture_ratio`` below TEXTURE_RATIO_LOW) is
# taken out by shrinking the coefficients of DCT_BLOCK x DCT_BLOCK DCTs over sliding windows, in
# two passes (the classical core of BM3D, without its block matching): a pilot drops every
# coefficient under DCT_PILOT_THRESHOLD grain sigmas (windows every DCT_PILOT_STEP px), then a
# Wiener pass shrinks each coefficient by the pilot's share of it against DCT_WIENER_NOISE sigmas
# of grain (every DCT_WIENER_STEP px). Every upload is a JPEG, which leaves grain in 8x8 blotches;
# shifted DCT windows take those out with the grain (on white grain alone it does no better than
# non-local means). Tuning half and extra tuning photos, damage seeds 1-8 (320 photos each),
# against non-local means: grain-free originals improved 99.7% -> 99.7%, mean gain +0.1646 ->
# +0.1763, none worse by 0.01; film originals improved 97.5% -> 97.2%, mean gain +0.1057 ->
# +0.1122, worse by over 0.01: 3 -> 3; and it is faster. Pilot threshold 2.8 or 3.6, Wiener
# noise 1.3 or 1.8: each left a photo worse or the mean lower. On texture (a fabric, a forest
# from above) it lost up to -0.05 where non-local means eased off (below) does not, so that stays.
DCT_BLOCK = 8
DCT_PILOT_THRESHOLD = 3.24
DCT_PILOT_STEP = 4
DCT_WIENER_NOISE = 1.56
DCT_WIENER_STEP = 2


@dataclass
class Measurements:
    """What the engine found in a photo before deciding what to do with it."""

    noise_sigma: float
    black: float = 0.0
    white: float = 255.0
    cast: float = 0.0
    chroma: float = 0.0
    defect_fraction: float = 0.0
    line_fraction: float = 0.0
    # How far the near-grey pixels are from grey on an old print with lifted blacks (1 - the
    # weakest ``grey_gains``; see FADE_TINT): 0 where they are grey or too few to tell.
    tint: float = 0.0
    tear_fraction: float = 0.0
    sharpness: float = 0.0
    grain_uniformity: float = 1.0
    texture_ratio: float = 1.0
    neutral: bool = False
    structure: float = 1.0
    # Signs of age besides grain that the detectors found (``age_signs``); ``film_only`` once
    # they were too few, so the photo is clean film, not an old print.
    signs: list[str] = field(default_factory=list)
    film_only: bool = False
    # No even grain, but WORN_SIGNS signs of age: an old print all the same (``restore``).
    worn: bool = False
    dust_outside: float = 0.0
    steps: list[str] = field(default_factory=list)

    @property
    def grainy(self) -> bool:
        """Film grain: above the gate and spread evenly over the picture (not a texture), on a
        photo that is not perfectly neutral grey."""
        return (
            self.noise_sigma > NOISE_GATE and self.grain_uniformity >= GRAIN_UNIFORMITY and not self.neutral
        )

    @property
    def old_print(self) -> bool:
        """Grain with enough other signs of age, or without grain the signs of a worn print:
        the gate for every print-repair step."""
        return (self.grainy or self.worn) and not self.film_only

    @property
    def monochrome(self) -> bool:
        return self.chroma < MONO_CHROMA

    @property
    def fade(self) -> float:
        """0 (not faded) to 1 (badly faded), from how far the blacks have lifted."""
        return (
            float(np.clip((self.black - FADE_BLACK + 8.0) / 20.0, 0.0, 1.0))
            if self.black >= FADE_BLACK
            else 0.0
        )


def estimate_noise(gray: np.ndarray, factor: int = 2) -> float:
    """Grain level (Gaussian sigma, 0-255) of a lightness channel.

    Measured at half resolution (``factor`` 2), because a JPEG copy of a grainy print keeps
    little of the grain in the finest band but most of it one octave down: the median absolute
    response of Immerkaer's noise-estimation kernel over the calmer half of the photo (edges
    excluded by gradient), divided by the kernel's gain for Gaussian noise, times ``factor``
    for the averaging (white grain measures the same at every ``factor``; texture does not).
    """
    g = gray.astype(np.float32)
    if min(g.shape) >= 32 * factor:
        g = cv2.resize(g, None, fx=1 / factor, fy=1 / factor, interpolation=cv2.INTER_AREA)
    else:
        factor = 1
    response = np.abs(cv2.filter2D(g, -1, NOISE_KERNEL))[1:-1, 1:-1]
    gradient = np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))[1:-1, 1:-1]
    calm = gradient <= np.percentile(gradient, 50)
    return float(factor * np.median(response[calm]) / (0.6745 * 6.0))


def texture_ratio(gray: np.ndarray) -> float:
    """Fine "noise" measured at quarter over half resolution: about 1 for film grain (white,
    the same at every scale), well above it where the fine detail is the picture's own texture
    (gravel, grass), whose energy grows at coarser scales."""
    return estimate_noise(gray, 4) / max(estimate_noise(gray, 2), 0.1)


def denoise_strength(ratio: float) -> float:
    """Share of the measured grain that denoising targets: 1, down to TEXTURE_DENOISE_MIN as
    ``texture_ratio`` rises from TEXTURE_RATIO_LOW to TEXTURE_RATIO_HIGH."""
    ramp = (TEXTURE_RATIO_HIGH - ratio) / (TEXTURE_RATIO_HIGH - TEXTURE_RATIO_LOW)
    return float(np.clip(ramp, TEXTURE_DENOISE_MIN, 1.0))


NOISE_KERNEL = np.asarray([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)


def grain_uniformity(gray: np.ndarray) -> float:
    """How evenly the fine noise covers the photo: 20th percentile over median of the noise
    measured (as ``estimate_noise`` does) in each tile of a GRAIN_TILES x GRAIN_TILES grid."""
    g = gray.astype(np.float32)
    if min(g.shape) >= 64:
        g = cv2.resize(g, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    response = np.abs(cv2.filter2D(g, -1, NOISE_KERNEL))
    gradient = np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))
    height, width = g.shape
    levels = []
    for i in range(GRAIN_TILES):
        for j in range(GRAIN_TILES):
            rows = slice(i * height // GRAIN_TILES, (i + 1) * height // GRAIN_TILES)
            cols = slice(j * width // GRAIN_TILES, (j + 1) * width // GRAIN_TILES)
            tile, grad = response[rows, cols], gradient[rows, cols]
            if tile.size:
                levels.append(float(np.median(tile[grad <= np.percentile(grad, 50)])))
    median = float(np.median(levels))
    # Most tiles without any fine noise at all: whatever noise there is sits in a part.
    return float(np.percentile(levels, 20)) / median if median > 0 else 0.0


def structure_kept(before: np.ndarray, after: np.ndarray) -> float:
    """Mean structure term of SSIM between two photos' lightness, both blurred past the grain:
    1 when the restoration changed tones and grain only, lower where it changed the picture."""
    x, y = (cv2.GaussianBlur(lightness_of(im).astype(np.float32), (0, 0), 2.0) for im in (before, after))
    if max(x.shape) > 800:
        x, y = (cv2.resize(z, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA) for z in (x, y))

    def blur(z: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(z, (0, 0), 3.0)

    mx, my = blur(x), blur(y)
    vx = np.maximum(blur(x * x) - mx * mx, 0.0)
    vy = np.maximum(blur(y * y) - my * my, 0.0)
    c3 = (0.03 * 255) ** 2 / 2
    return float(((blur(x * y) - mx * my + c3) / (np.sqrt(vx * vy) + c3)).mean())


def lightness_of(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2LAB)[:, :, 0]


def measure_tone(image: np.ndarray, m: Measurements) -> None:
    """Fill in black and white points, colour cast and true colourfulness of ``image``."""
    small = (
        cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
        if min(image.shape[:2]) > 400
        else image
    )
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB)
    lightness = lab[:, :, 0]
    m.black, m.white = (float(v) for v in np.percentile(lightness, (1, 99)))
    # Cast: how far apart the channels' own black and white points are. A yellowed print has
    # blue far below red at both ends.
    low = np.percentile(small.reshape(-1, 3), 1, axis=0)
    high = np.percentile(small.reshape(-1, 3), 99, axis=0)
    m.cast = float(max(np.ptp(low), np.ptp(high)))
    # Colourfulness: a and b around their mean *for each lightness level*, so a toned or
    # yellowed black-and-white print (whose colour depends only on lightness) counts as none.
    a = lab[:, :, 1].astype(np.float32).ravel()
    b = lab[:, :, 2].astype(np.float32).ravel()
    bins = (lightness.ravel() // 16).astype(np.int64)
    counts = np.maximum(np.bincount(bins, minlength=16), 1)
    mean_a = np.bincount(bins, a, minlength=16) / counts
    mean_b = np.bincount(bins, b, minlength=16) / counts
    m.chroma = float(np.hypot(a - mean_a[bins], b - mean_b[bins]).mean())


def measure(image: np.ndarray) -> Measurements:
    """Measure grain, black/white points, cast and colourfulness of an RGB uint8 photo."""
    m = Measurements(noise_sigma=estimate_noise(lightness_of(image)))
    measure_tone(image, m)
    return m


def denoise(
    image: np.ndarray, sigma: float, keep: float = 0.0, *, texture: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Grain out of lightness (``dct_denoise``; non-local means where ``texture``, the photo's
    ``texture_ratio``, says its fine detail is texture), a light blur on colour; ``keep`` of the
    lightness detail it removes is put back (colour noise is no part of a film's look).
    Returns the photo and its fully denoised lightness (what the residual grain is measured on)."""
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)
    if texture < TEXTURE_RATIO_LOW:
        smooth = dct_denoise(lab[:, :, 0], sigma)
    else:
        # h near sigma removes grain but keeps texture; small windows keep a 720p photo well under a second.
        smooth = cv2.fastNlMeansDenoising(
            lab[:, :, 0], None, h=float(min(sigma * 1.1, 30.0)), templateWindowSize=5, searchWindowSize=13
        )
    lab[:, :, 0] = cv2.addWeighted(lab[:, :, 0], keep, smooth, 1 - keep, 0) if keep > 0 else smooth
    chroma_sigma = min(0.6 + sigma / 8.0, 3.0)
    lab[:, :, 1] = cv2.GaussianBlur(lab[:, :, 1], (0, 0), chroma_sigma)
    lab[:, :, 2] = cv2.GaussianBlur(lab[:, :, 2], (0, 0), chroma_sigma)
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB), smooth


def dct_matrix(size: int = DCT_BLOCK) -> np.ndarray:
    """The orthonormal DCT-II matrix: ``D @ block @ D.T`` is a block's 2-D DCT."""
    k, n = np.mgrid[0:size, 0:size]
    matrix = np.sqrt(2.0 / size) * np.cos(np.pi * (2 * n + 1) * k / (2 * size))
    matrix[0] /= np.sqrt(2.0)
    return matrix.astype(np.float32)


def dct_denoise(lightness: np.ndarray, sigma: float) -> np.ndarray:
    """Grain of strength ``sigma`` out of a lightness channel (uint8) by sliding-window DCT
    shrinkage: a hard-threshold pilot, then a Wiener pass against it (see DCT_BLOCK)."""
    noisy = lightness.astype(np.float32)
    pilot = _dct_pass(noisy, sigma, DCT_PILOT_STEP, threshold=DCT_PILOT_THRESHOLD * sigma)
    smooth = _dct_pass(noisy, DCT_WIENER_NOISE * sigma, DCT_WIENER_STEP, pilot=pilot)
    return np.clip(smooth + 0.5, 0, 255).astype(np.uint8)


def _dct_pass(
    noisy: np.ndarray, noise: float, step: int, *, threshold: float = 0.0, pilot: np.ndarray | None = None
) -> np.ndarray:
    """One pass of ``dct_denoise``: every block of the grids offset by ``step`` px in each
    direction is transformed, its coefficients kept above ``threshold`` (or, with ``pilot``,
    scaled by the Wiener gain pilot^2 / (pilot^2 + noise^2)), transformed back and averaged in,
    each block weighted by how little it kept (sparse blocks are the surer estimates)."""
    n = DCT_BLOCK
    matrix = dct_matrix(n)
    height, width = noisy.shape
    padded = np.pad(noisy, n, mode="reflect")
    guide = np.pad(pilot, n, mode="reflect") if pilot is not None else None
    total = np.zeros_like(padded)
    weights = np.zeros_like(padded)
    noise2 = np.float32(max(noise, 0.1)) ** 2

    def forward(x: np.ndarray, rows: int, cols: int) -> np.ndarray:
        along = x.reshape(rows * n, cols, n) @ matrix.T
        return (matrix @ along.reshape(rows, n, cols * n)).reshape(rows, n, cols, n)

    for dy in range(0, n, step):
        for dx in range(0, n, step):
            rows, cols = (padded.shape[0] - dy) // n, (padded.shape[1] - dx) // n
            window = (slice(dy, dy + rows * n), slice(dx, dx + cols * n))
            coefficients = forward(padded[window], rows, cols)
            if guide is None:
                gain = (np.abs(coefficients) >= threshold).astype(np.float32)
            else:
                power = forward(guide[window], rows, cols) ** 2
                gain = power / (power + noise2)
            gain[:, 0, :, 0] = 1.0  # each block's mean is never shrunk
            coefficients *= gain
            weight = 1.0 / (1e-3 + (gain * gain).sum(axis=(1, 3)))[:, None, :, None]
            back = (matrix.T @ coefficients.reshape(rows, n, cols * n)).reshape(rows * n, cols, n) @ matrix
            total[window].reshape(rows, n, cols, n)[...] += back.reshape(rows, n, cols, n) * weight
            weights[window].reshape(rows, n, cols, n)[...] += weight
    inside = (slice(n, n + height), slice(n, n + width))
    return total[inside] / weights[inside]


def detect_defects(image: np.ndarray, noise_sigma: float) -> np.ndarray:
    """Mask (uint8 0/255) of dust specks and thin scratches.

    A morphological top-hat isolates small bright and dark marks; a mark counts only when it
    stands far above the tonal range, far above the fine texture around it (real detail such
    as hair or foliage sits among similar detail, dust on a cheek does not), and is either a
    small speck or a thin line.
    """
    lightness = lightness_of(image)
    scale = max(image.shape[:2]) / 720
    size = max(5, round(DEFECT_KERNEL * scale) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    tophat = np.maximum(
        cv2.morphologyEx(lightness, cv2.MORPH_TOPHAT, kernel),
        cv2.morphologyEx(lightness, cv2.MORPH_BLACKHAT, kernel),
    )
    p1, p99 = np.percentile(lightness, (1, 99))
    threshold = max(4.0 * noise_sigma, 0.22 * float(p99 - p1), 20.0)
    texture = cv2.medianBlur(tophat, max(11, round(21 * scale) | 1)).astype(np.float32)
    mask = ((tophat > threshold) & (tophat > 4.0 * texture + 8.0)).astype(np.uint8) * 255
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        return mask
    area = stats[:, cv2.CC_STAT_AREA].astype(np.float64)
    extent = np.maximum(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT])
    speck = area <= SPECK_AREA * scale * scale
    # A scratch is a thin stroke; thin real structure (a lattice, branches) forms networks
    # whose second moments are far less elongated.
    line = (
        (extent >= 12 * scale)
        & (area <= extent * 3.5 * max(1.0, scale))
        & (elongation(labels, count) >= LINE_ELONGATION)
    )
    # Marks must also stand out from the texture around them: among busy real detail
    # inpainting would erase picture, not dirt. The surroundings are judged with the marks
    # themselves smoothed away (opening then closing), so a scratch does not excuse itself.
    background = cv2.morphologyEx(
        cv2.morphologyEx(lightness, cv2.MORPH_OPEN, kernel), cv2.MORPH_CLOSE, kernel
    )
    background = background.astype(np.float32)
    win = (max(9, round(15 * scale)),) * 2
    mean = cv2.blur(background, win)
    busyness = np.sqrt(np.maximum(cv2.blur(background * background, win) - mean * mean, 0.0))
    ids = labels.ravel()
    peak = np.zeros(count, np.float32)
    np.maximum.at(peak, ids, tophat.ravel().astype(np.float32))
    surround = np.bincount(ids, busyness.ravel(), minlength=count) / np.maximum(area, 1)
    keep = (speck | line) & (peak > SURROUND_RATIO * surround)
    keep[0] = False
    mask = np.where(keep[labels], 255, 0).astype(np.uint8)
    # Antialiased edges of a mark are lighter than its core: grow the mask to cover them.
    return cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))


def line_kernels(length: int, angles: int) -> list[np.ndarray]:
    """Normalised one-pixel line kernels of ``length`` at ``angles`` evenly spread directions."""
    kernels = []
    centre = length // 2
    for i in range(angles):
        theta = np.pi * i / angles
        kernel = np.zeros((length, length), np.float32)
        dx, dy = np.cos(theta) * centre, np.sin(theta) * centre
        cv2.line(
            kernel,
            (round(centre - dx), round(centre - dy)),
            (round(centre + dx), round(centre + dy)),
            1.0,
            1,
            cv2.LINE_8,
        )
        kernels.append(kernel / kernel.sum())
    return kernels


def detect_lines(image: np.ndarray, noise_sigma: float) -> np.ndarray:
    """Mask (uint8 0/255) of long thin scratches and crease lines, bright or dark, any angle.

    Thin marks (top-hat and black-hat of lightness) are averaged along short line segments in
    LINE_ANGLES directions at half resolution; a scratch is strong along its own direction and
    weak across it, while a blob, an edge or busy texture is about as strong in every
    direction, so strength along the best direction minus the mean over all of them picks
    out strokes. Strokes must then be long and thin (connected components) to count.
    """
    lightness = lightness_of(image)
    height, width = lightness.shape
    scale = max(height, width) / 720
    size = max(5, round(7 * scale) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    thin = np.maximum(
        cv2.morphologyEx(lightness, cv2.MORPH_TOPHAT, kernel),
        cv2.morphologyEx(lightness, cv2.MORPH_BLACKHAT, kernel),
    )
    # Half resolution, keeping one-pixel strokes: the max of each 2x2 block.
    half = cv2.dilate(thin, np.ones((2, 2), np.uint8))[::2, ::2].astype(np.float32)
    length = max(11, round(LINE_LENGTH * scale / 2) | 1)
    responses = np.stack([cv2.filter2D(half, -1, k) for k in line_kernels(length, LINE_ANGLES)])
    strength = responses.max(axis=0) - responses.mean(axis=0)
    p1, p99 = np.percentile(lightness, (1, 99))
    threshold = max(LINE_CONTRAST, LINE_NOISE * noise_sigma, 0.12 * float(p99 - p1))
    # Strokes at half resolution: long, thin components of strong oriented response (busy
    # texture is about as strong in every direction, so it does not get this far). Each
    # direction (with its neighbours, for gentle curves) is taken on its own, so scratches
    # crossing each other do not merge into one network that looks like texture.
    strong = strength > threshold * 0.6
    best = responses.argmax(axis=0)
    strokes = np.zeros(strong.shape, np.uint8)
    for angle in range(LINE_ANGLES):
        near = (
            (best == angle)
            | (best == (angle + 1) % LINE_ANGLES)
            | (best == angle - 1 + LINE_ANGLES * (angle == 0))
        )
        count, labels, stats, _ = cv2.connectedComponentsWithStats(
            (strong & near).astype(np.uint8), connectivity=8
        )
        if count <= 1:
            continue
        area = stats[:, cv2.CC_STAT_AREA].astype(np.float64)
        extent = np.hypot(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT])
        keep = (
            (extent >= LINE_MIN_EXTENT * scale / 2)
            & (area <= extent * LINE_AREA_PER_LENGTH)
            & (elongation(labels, count) >= LINE_ELONGATION_MIN)
        )
        keep[0] = False
        strokes |= keep[labels].astype(np.uint8)
    strokes = cv2.resize(strokes, (width, height), interpolation=cv2.INTER_NEAREST)
    strokes = cv2.dilate(strokes, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))
    # The stroke's own pixels: thin-mark strength well above the grain, on a kept stroke.
    pixels = (thin > max(threshold * 0.5, 3.0 * noise_sigma)) & (strokes > 0)
    return pixels.astype(np.uint8) * 255


def detect_tears(image: np.ndarray, noise_sigma: float) -> np.ndarray:
    """Mask (uint8 0/255) of torn paper and missing corners: flat pale patches at the edge.

    Only a photo with grain (``noise_sigma`` above NOISE_GATE) is searched: there, bare paper
    is the one place without grain. A clean digital photo's blown-out sky is left alone.
    """
    height, width = image.shape[:2]
    if noise_sigma <= NOISE_GATE:
        return np.zeros((height, width), np.uint8)
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)
    lightness = lab[:, :, 0].astype(np.float32)
    mean = cv2.blur(lightness, (5, 5))
    deviation = np.sqrt(np.maximum(cv2.blur(lightness * lightness, (5, 5)) - mean * mean, 0.0))
    chroma = np.hypot(lab[:, :, 1].astype(np.float32) - 128, lab[:, :, 2].astype(np.float32) - 128)
    flat = (
        (lightness > TEAR_LIGHTNESS) & (deviation < max(TEAR_FLATNESS, noise_sigma * 0.35)) & (chroma < 20)
    ).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(flat, connectivity=4)
    if count <= 1:
        return np.zeros((height, width), np.uint8)
    x, y = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
    w, h = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]
    area = stats[:, cv2.CC_STAT_AREA]
    at_edge = (x <= 1) | (y <= 1) | (x + w >= width - 1) | (y + h >= height - 1)
    keep = at_edge & (area >= TEAR_MIN_AREA) & (area <= TEAR_MAX_FRACTION * height * width)
    keep[0] = False
    mask = np.where(keep[labels], 255, 0).astype(np.uint8)
    if mask.any():
        # The flatness window stops short of the torn edge and of grain-speckled paper: grow the
        # patch over the neighbouring pixels of the same paper tone.
        paper = float(np.median(lightness[mask > 0]))
        same = ((np.abs(lightness - paper) < TEAR_TONE) & (chroma < 20)).astype(np.uint8)
        step = np.ones((3, 3), np.uint8)
        for _ in range(TEAR_GROW):
            mask = cv2.dilate(mask, step) & (same * 255) | mask
    # The torn edge is a blend of paper and picture: grow the mask over it.
    return cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))


def fill_tears(image: np.ndarray, tears: np.ndarray) -> np.ndarray:
    """Fill torn paper and missing corners from the picture around them, inpainted at a coarse
    scale (TEAR_FILL_SIDE px long side): a hole this big filled at full resolution smears the
    torn edge inwards; the coarse fill carries the surrounding tones across it (tear pixels
    repaired on the tuning half: 19% at full resolution, 53% at 128 px)."""
    height, width = image.shape[:2]
    factor = max(2, round(max(height, width) / TEAR_FILL_SIDE))
    size = (max(1, width // factor), max(1, height // factor))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    # Any coarse pixel touched by the tear is a hole, and one more around it: the torn edge.
    hole = (cv2.resize(tears, size, interpolation=cv2.INTER_AREA) > 0).astype(np.uint8) * 255
    hole = cv2.dilate(hole, np.ones((3, 3), np.uint8))
    filled = cv2.resize(
        cv2.inpaint(small, hole, 5, cv2.INPAINT_TELEA), (width, height), interpolation=cv2.INTER_CUBIC
    )
    out = image.copy()
    out[tears > 0] = filled[tears > 0]
    return out


def elongation(labels: np.ndarray, count: int) -> np.ndarray:
    """Per connected component, the ratio of its long to short axis (from second moments)."""
    ys, xs = np.nonzero(labels)
    ids = labels[ys, xs]
    n = np.maximum(np.bincount(ids, minlength=count), 1).astype(np.float64)
    mx = np.bincount(ids, xs, minlength=count) / n
    my = np.bincount(ids, ys, minlength=count) / n
    dx, dy = xs - mx[ids], ys - my[ids]
    sxx = np.bincount(ids, dx * dx, minlength=count) / n + 1 / 12
    syy = np.bincount(ids, dy * dy, minlength=count) / n + 1 / 12
    sxy = np.bincount(ids, dx * dy, minlength=count) / n
    spread = np.sqrt(((sxx - syy) / 2) ** 2 + sxy**2)
    major, minor = (sxx + syy) / 2 + spread, (sxx + syy) / 2 - spread
    return np.sqrt(major / np.maximum(minor, 1e-6))


def stretch_lut(
    low: float, high: float, strength: float, out_low: float = 3.0, out_high: float = 252.0
) -> np.ndarray:
    """A lookup table mapping [low, high] onto [out_low, out_high], blended with identity."""
    identity = np.arange(256, dtype=np.float32)
    stretched = (identity - low) * ((out_high - out_low) / max(1.0, high - low)) + out_low
    return np.clip((1 - strength) * identity + strength * stretched, 0, 255).astype(np.uint8)


def grey_gains(image: np.ndarray) -> np.ndarray:
    """Per-channel gains (the largest 1) that make the photo's near-grey pixels grey: a robust
    white balance, iterated from the pixels whose colour stays within GREY_CHROMA of their
    lightness. A photo with too few such pixels (a green meadow, a red flower: under
    GREY_SHARE of it) gives no evidence of a cast and keeps its colours (gains all 1); the
    gains stay within CAST_MAX_GAIN, what yellowing or a magenta shift takes away."""
    small = (
        cv2.resize(image, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
        if min(image.shape[:2]) > 200
        else image
    )
    rgb = small.reshape(-1, 3).astype(np.float32)
    level = rgb.mean(axis=1)
    usable = (level > 25) & (level < 245)
    gains = np.ones(3, np.float32)
    # From a loose notion of grey (a strong yellowing puts every grey pixel far off) to a tight one.
    for limit in (0.35, 0.25, 0.18, GREY_CHROMA, GREY_CHROMA, GREY_CHROMA):
        balanced = rgb * gains
        level = balanced.mean(axis=1)
        spread = np.abs(balanced - level[:, None]).max(axis=1) / np.maximum(level, 1.0)
        grey = usable & (spread < limit)
        if np.count_nonzero(grey) < GREY_SHARE * len(rgb):
            return np.ones(3, np.float32)
        mean = balanced[grey].mean(axis=0)
        gains = gains * (mean.mean() / np.maximum(mean, 1.0))
        gains = np.clip(gains / gains.max(), 1.0 / CAST_MAX_GAIN, 1.0)
    return gains / gains.max()


def correct_colour(
    image: np.ndarray, strength: float = CAST_STRENGTH, gains: np.ndarray | None = None
) -> np.ndarray:
    """Take a colour cast out by white balance on the photo's near-grey pixels (``grey_gains``),
    ``strength`` of the way (the weak channels brought up), on colour only: lightness is kept
    as it was.

    (A per-channel black-to-white stretch, as this step used to do, assumes every channel
    spans the whole range; a landscape's blue channel does not, and the stretch painted it
    blue: up to -0.08 SSIM on the tuning half.)"""
    gains = grey_gains(image) if gains is None else gains
    if np.all(gains >= 0.999):
        return image
    # Brightening the weak channels, not darkening the strong one: lightness is restored below.
    boost = 1.0 + strength * (gains / gains.min() - 1.0)
    out = np.clip(image.astype(np.float32) * boost, 0, 255).astype(np.uint8)
    lab = cv2.cvtColor(out, cv2.COLOR_RGB2LAB)
    lab[:, :, 0] = lightness_of(image)
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)


def neutralise(image: np.ndarray, strength: float) -> np.ndarray:
    """Take the yellowing out of a black-and-white print (its colour is only age)."""
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)
    for c in (1, 2):
        lab[:, :, c] = cv2.addWeighted(
            lab[:, :, c], 1 - strength, np.full_like(lab[:, :, c], 128), strength, 0
        )
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)


def spread_lut(lightness: np.ndarray, strength: float) -> np.ndarray:
    """Lookup table spreading ``lightness`` about its median by the gain that would fill the
    range, at most TONE_MAX_GAIN, blended by ``strength`` (see ``restore_contrast``)."""
    low, median, high = (float(v) for v in np.percentile(lightness, (0.5, 50, 99.5)))
    gain = 1.0 + strength * (min(249.0 / max(1.0, high - low), TONE_MAX_GAIN) - 1.0)
    identity = np.arange(256, dtype=np.float32)
    return np.clip(median + (identity - median) * gain, 0, 255).astype(np.uint8)


def restore_contrast(image: np.ndarray, strength: float) -> np.ndarray:
    """Spread faded lightness back out around its median.

    Fading pulls every tone toward a grey and keeps mid-tones roughly where they were, so the
    tones are spread about the median (not pinned black to black: a naturally light photo, a
    wall or a foggy field, has no black to recover) by the gain that would fill the range,
    at most TONE_MAX_GAIN: fading loses a bounded share of contrast, so a photo narrower than
    that was narrow to begin with. (Local contrast, CLAHE, is not added: on the tuning half it
    cost up to -0.03 SSIM for that step.)
    """
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)
    lab[:, :, 0] = cv2.LUT(lab[:, :, 0], spread_lut(lab[:, :, 0], strength))
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)


def sharpen(image: np.ndarray, amount: float) -> np.ndarray:
    """Unsharp mask on lightness only (sharpening colour makes colour halos)."""
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)
    lightness = lab[:, :, 0]
    blurred = cv2.GaussianBlur(lightness, (0, 0), 1.2)
    lab[:, :, 0] = cv2.addWeighted(lightness, 1 + amount, blurred, -amount, 0)
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)


def measure_sharpness(image: np.ndarray) -> float:
    """Strongest local detail relative to the tonal range; soft (blurred) photos score low."""
    lightness = lightness_of(image)
    laplacian = np.abs(cv2.Laplacian(lightness, cv2.CV_32F, ksize=1))
    p1, p99 = np.percentile(lightness, (1, 99))
    return float(np.percentile(laplacian, 99.5) / max(20.0, float(p99 - p1)))


def tint(image: np.ndarray) -> np.ndarray:
    """A warm, lightness-dependent tint for a black-and-white photo (the classical stand-in for
    colour): brown-black shadows, warm mid-tones, cream highlights."""
    lightness = lightness_of(image).astype(np.float32)
    t = lightness / 255.0
    # Most colour in the mid-tones, little in deep shadow and paper white.
    midtones = 4.0 * t * (1.0 - t)
    a = 128.0 + 3.0 + 5.0 * midtones
    b = 128.0 + 8.0 + 16.0 * midtones
    lab = cv2.merge([lightness, a, b]).astype(np.uint8)
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)


def restore(image: np.ndarray, *, keep_tone: bool = False) -> tuple[np.ndarray, Measurements]:
    """The gated restoration pipeline; returns the result and what it measured and did.

    A photo without even film grain measures as a clean (digital or well-kept) photo: only a
    few isolated dust specks are repaired on it, so it comes back essentially unchanged. A
    grainy one that also shows AGE_SIGNS other signs of age (faded blacks with a tint, dust,
    scratches, tears) is an old print: it is denoised, its long scratches, creases, tears and faded tones
    are repaired; grain alone is clean film and is restored as a clean photo. A faded or dusty
    photo without even grain is tried as a print and restored as one when it shows WORN_SIGNS
    signs of age (a JPEG copy can wipe the grain of a worn print out). Last, a safeguard
    compares the result with the input (``structure_kept``) and backs off when the repairs
    changed the picture rather than its damage.
    """
    lightness = lightness_of(image)
    m = Measurements(noise_sigma=estimate_noise(lightness), grain_uniformity=grain_uniformity(lightness))
    m.texture_ratio = texture_ratio(lightness)
    measure_tone(image, m)
    m.neutral = m.monochrome and m.cast < NEUTRAL_CAST
    work = _pipeline(image, m, repairs=True, keep_tone=keep_tone)
    if m.old_print and len(m.signs) < AGE_SIGNS:
        # Grain but no other damage to speak of: a clean film photo, restored as a clean one.
        m.film_only, m.steps = True, []
        work = _pipeline(image, m, repairs=True, keep_tone=keep_tone)
    elif not m.grainy and not m.neutral and (m.fade > 0 or m.dust_outside >= DUST_OUTSIDE_SIGN):
        # No even grain (a JPEG copy wipes it out; texture or glare hides part of it), yet
        # faded or dusty: restored as a print when the print's damage shows all the same.
        worn = replace(m, worn=True, steps=[], signs=[])
        trial = _pipeline(image, worn, repairs=True, keep_tone=keep_tone)
        if len(worn.signs) >= WORN_SIGNS:
            m, work = worn, trial
    m.structure = structure_kept(image, work)
    if m.structure < STRUCTURE_GUARD and "long_scratches" in m.steps:
        # The line detector is the repair most likely to take picture for damage (a dial's
        # printed arcs and needle, a row of text): back off from it alone first.
        m.steps = ["safeguard_no_lines"]
        work = _pipeline(image, m, repairs=True, lines=False, keep_tone=keep_tone)
        m.structure = structure_kept(image, work)
    if m.structure < STRUCTURE_GUARD and m.steps:
        m.steps = ["safeguard_no_repairs"]
        work = _pipeline(image, m, repairs=False, keep_tone=keep_tone)
        m.structure = structure_kept(image, work)
        if m.structure < STRUCTURE_GUARD:
            m.steps = ["safeguard_unchanged"]
            work = image
    return work, m


def restore_note(m: Measurements) -> str:
    """What ``restore`` did to the photo (``m``, its measurements and steps), in a sentence or two."""
    if "safeguard_unchanged" in m.steps:
        return NOTE_UNCHANGED
    done = [STEP_WORDS[step] for step in m.steps if step in STEP_WORDS]
    if not m.old_print or not done:
        return NOTE_CLEAN_SPECKS if done else NOTE_CLEAN
    listed = done[0] if len(done) == 1 else f"{', '.join(done[:-1])} and {done[-1]}"
    held_back = (NOTES_HELD_BACK[step] for step in m.steps if step in NOTES_HELD_BACK)
    return " ".join([f"The local engine {listed}.", *held_back])


def _pipeline(
    image: np.ndarray, m: Measurements, *, repairs: bool, lines: bool = True, keep_tone: bool = False
) -> np.ndarray:
    """Each step of ``restore`` gated on its own measurement (``repairs``: inpaint damage;
    ``lines``: long scratches and creases among it; ``keep_tone``: a toned print keeps its
    tone, so no cast correction)."""
    aged = m.old_print
    work = image
    residual_noise = m.noise_sigma
    tears = detect_tears(image, m.noise_sigma) if aged and repairs else np.zeros(image.shape[:2], np.uint8)
    m.tear_fraction = float(np.count_nonzero(tears)) / tears.size
    if aged:
        work, smooth = denoise(
            work, m.noise_sigma * denoise_strength(m.texture_ratio), GRAIN_KEEP, texture=m.texture_ratio
        )
        residual_noise = estimate_noise(smooth)
        m.steps.append("denoise")
    mask = detect_defects(work, residual_noise) if repairs else np.zeros(image.shape[:2], np.uint8)
    m.defect_fraction = float(np.count_nonzero(mask)) / mask.size
    m.dust_outside = outside_tones(work, mask)
    # Long lines are looked for on old prints only: a clean photo's straight wires and mortar
    # lines are picture, not damage.
    found = detect_lines(work, residual_noise) if aged and repairs and lines else np.zeros_like(mask)
    # So many strokes that some may be picture: only those that prove to be damage. A scratch
    # bares the paper (or a crease holds dirt) beyond the faded print's own tones; a printed
    # line faded with the picture.
    if np.count_nonzero(found) > LINE_DENSE * found.size:
        found = marks_outside_tones(
            work, found, LINE_OUTSIDE_SHARE, LINE_LOCAL_CONTRAST, gap=LINE_RING_GAP, piece=LINE_PIECE
        )
    m.line_fraction = float(np.count_nonzero(found)) / found.size
    repair = np.zeros_like(mask)
    most_dust = DEFECT_MAX_FRACTION if aged else CLEAN_DEFECT_MAX_FRACTION
    if DEFECT_GATE < m.defect_fraction <= most_dust:
        # Only the marks that prove to be dirt: outside the photo's own tones.
        repair |= marks_outside_tones(work, mask)
        m.steps.append("dust_and_scratches")
    if 0 < m.line_fraction <= LINE_MAX_FRACTION:
        # Grown by a pixel: a scratch's antialiased edges are lighter than its core.
        repair |= cv2.dilate(found, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))
        m.steps.append("long_scratches")
    if m.tear_fraction > 0:
        repair |= tears
        m.steps.append("tears")
    if repair.any():
        work = cv2.inpaint(work, repair, 3, cv2.INPAINT_TELEA)
    if m.tear_fraction > 0:
        work = fill_tears(work, tears)
    # Tone is measured on the cleaned photo: white scratches and black dust would otherwise
    # pass for its white and black points.
    measure_tone(work, m)
    if aged:
        # Measured once: fading counts as a sign only with a tint, and the colour step uses it.
        gains = grey_gains(work) if m.fade > 0 else None
        m.tint = 0.0 if gains is None else float(1.0 - gains.min())
        m.signs = age_signs(m, dust="dust_and_scratches" in m.steps, lines="long_scratches" in m.steps)
    if aged and m.fade > 0:
        strength = TONE_STRENGTH * m.fade
        # A black-and-white print's colour is only age; a colour print's cast hides its dyes.
        if not keep_tone:
            work = neutralise(work, m.fade) if m.monochrome else correct_colour(work, gains=gains)
            m.steps.append("colour")
        work = restore_contrast(work, strength)
        m.steps.append("contrast")
    m.sharpness = measure_sharpness(work)
    if aged and SHARPEN_AMOUNT:
        # Denoising softens: give back some crispness (lightness only).
        work = sharpen(work, SHARPEN_AMOUNT)
        m.steps.append("sharpen")
    return work


def outside_tones(image: np.ndarray, mask: np.ndarray) -> float:
    """Share of ``image`` flagged in ``mask`` and darker or lighter than the 1st/99th
    percentile of the rest of its lightness (see DUST_OUTSIDE_SIGN)."""
    if not mask.any() or mask.all():
        return 0.0
    lightness = lightness_of(image)
    flagged = mask > 0
    low, high = np.percentile(lightness[~flagged], (1, 99))
    return float(np.count_nonzero(flagged & ((lightness < low) | (lightness > high)))) / mask.size


def marks_outside_tones(
    image: np.ndarray,
    mask: np.ndarray,
    share: float = MARK_OUTSIDE_SHARE,
    local_contrast: float = MARK_LOCAL_CONTRAST,
    gap: int = 0,
    piece: int = 0,
) -> np.ndarray:
    """The marks of ``mask`` (connected components) that prove to be dirt: at least
    MARK_OUTSIDE_SHARE of their pixels darker or lighter than the 2nd/98th percentile of the
    unflagged lightness (dust is near black or paper white, beyond a faded print's own
    tones), or beyond the range of the pixels right around them by MARK_LOCAL_CONTRAST of the
    photo's tonal range (dark dust on a light sky). A flagged pebble, star or highlight of the
    picture lies within both and is kept as it is. ``share`` and ``local_contrast`` replace
    those two constants; ``gap`` leaves that many pixels between a mark and its ring; ``piece``
    judges each mark piece by piece (its parts within piece x piece tiles)."""
    if not mask.any() or mask.all():
        return mask
    lightness = lightness_of(image)
    flagged = mask > 0
    low, high = np.percentile(lightness[~flagged], (2, 98))
    count, labels = cv2.connectedComponents(mask, connectivity=8)
    if piece:
        # Judge long marks piece by piece: each mark's part within one piece x piece tile.
        ys, xs = np.nonzero(labels)
        tile = (ys // piece) * (mask.shape[1] // piece + 1) + xs // piece
        keys = labels[ys, xs].astype(np.int64) * (tile.max() + 1) + tile
        _, piece_ids = np.unique(keys, return_inverse=True)
        labels = np.zeros_like(labels)
        labels[ys, xs] = piece_ids.ravel() + 1
        count = int(piece_ids.max()) + 2
    ids = labels.ravel()
    sizes = np.maximum(np.bincount(ids, minlength=count), 1)
    values = lightness.ravel().astype(np.float32)
    # The ring of unflagged pixels around each mark, labelled with the mark's number.
    side = 7 + 2 * gap
    ring_labels = cv2.dilate(labels.astype(np.float32), np.ones((side, side), np.uint8)).astype(np.int64)
    near = cv2.dilate(mask, np.ones((2 * gap + 1, 2 * gap + 1), np.uint8)) > 0 if gap else flagged
    ring = (ring_labels > 0) & ~near
    ring_min = np.full(count, 255.0, np.float32)
    ring_max = np.zeros(count, np.float32)
    np.minimum.at(ring_min, ring_labels[ring], lightness[ring].astype(np.float32))
    np.maximum.at(ring_max, ring_labels[ring], lightness[ring].astype(np.float32))
    margin = local_contrast * float(high - low)
    beyond_photo = (values < low) | (values > high)
    beyond_ring = (values < ring_min[ids] - margin) | (values > ring_max[ids] + margin)
    outside = np.bincount(ids, (beyond_photo | beyond_ring).astype(np.float64), minlength=count) / sizes
    keep = outside >= share
    keep[0] = False
    return np.where(keep[labels], 255, 0).astype(np.uint8)


def age_signs(m: Measurements, *, dust: bool, lines: bool) -> list[str]:
    """The signs of age besides grain the measurements show (see AGE_SIGNS); ``dust`` and
    ``lines``: whether those repairs were trusted (within their detectors' limits)."""
    found = {
        "faded": m.fade > 0 and (m.worn or m.tint >= FADE_TINT),
        "dust": dust and m.defect_fraction >= DUST_SIGN and m.dust_outside >= DUST_OUTSIDE_SIGN,
        "scratches": lines and m.line_fraction >= LINE_SIGN,
        "torn": m.tear_fraction > 0,
    }
    return [name for name, present in found.items() if present]


class LocalEngine:
    """Engine protocol implementation for the classical pipeline.

    It performs restore; animate as a "living photo" (a classical camera move, labelled as not
    AI: processing.engines.living); and bring together as a classical stand-in, said so in its
    note: the photos side by side (processing/engines/together.py). Its "colourize" is a warm
    tint, not colour, so the colourize kinds are not offered (nor charged) where this engine
    runs; hints change nothing here.
    """

    name = NAME
    performs = frozenset({Kind.RESTORE, Kind.ANIMATE, Kind.BRING_TOGETHER})
    # Kinds it performs with a classical stand-in that is not what the kind promises (the pages
    # say so before anything is spent).
    stands_in = frozenset({Kind.BRING_TOGETHER})
    uses_hints = False
    # Classical, not a model: its results carry no AI marker and say "not AI".
    generative = False

    def run(self, request: EngineRequest) -> EngineResult:
        started, cpu_started = time.perf_counter(), time.thread_time()
        notes: list[str] = []
        video = None
        if request.kind.composes:
            image, notes = self._together(request)
        else:
            image, video = self._single(request, notes)
        if request.hints:
            notes.append(NOTE_NO_HINTS)
        usage = {
            "seconds": time.perf_counter() - started,
            "gpu_seconds": 0.0,
            "cpu_seconds": time.thread_time() - cpu_started,
        }
        return EngineResult(image=image, engine=NAME, usage=usage, notes=notes, model=MODEL, video=video)

    @staticmethod
    def _together(request: EngineRequest) -> tuple[np.ndarray, list[str]]:
        inputs = list(request.inputs)
        colour = request.options.get("colour") != "black_and_white"
        image = together.composite(inputs, together.result_size(inputs, request.max_size), colour=colour)
        notes = [together.NOTE_STAND_IN]
        if colour and any(together.is_grey(picture) for picture in inputs):
            notes.append(together.NOTE_STAYS_GREY)
        return image, notes

    @staticmethod
    def _single(request: EngineRequest, notes: list[str]) -> tuple[np.ndarray, bytes | None]:
        image = resize_to_fit(request.image, request.max_size)
        video = None
        if request.kind.makes_video:
            frames, fps = video_length(request.options)
            video = living_photo(image, preset=request.options.get("preset", ""), frames=frames, fps=fps)
            width, height = even_size(image.shape[1], image.shape[0])
            image = np.ascontiguousarray(image[:height, :width])
            notes.append(NOTE_NOT_AI)
        if request.kind.restores:
            image, measured = restore(image, keep_tone=request.keep_tone)
            notes.append(restore_note(measured))
        if request.kind.colourizes:
            if measure(image).monochrome:
                image = tint(image)
                notes.append(NOTE_TINT)
            else:
                notes.append(NOTE_ALREADY_COLOUR)
        return image, video


__all__ = ["NAME", "Kind", "LocalEngine", "Measurements", "measure", "restore", "tint"]
