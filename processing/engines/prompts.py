"""The instruction a generative engine gets for each kind of work. Shared by the RunPod client
(which sends it) and our RunPod worker (which falls back to it), so both agree."""

from __future__ import annotations

from collections.abc import Callable

from processing.engines.base import Kind, clean_hints

# Qwen-Image-Edit's own guidance for old photos is the fixed prompt "Restore and colorize the
# photo."; the restore-only and colourize-only prompts follow its short imperative style and
# say what must not change, because edit models otherwise "improve" faces and composition.
INSTRUCTIONS: dict[Kind, str] = {
    Kind.RESTORE_COLOURIZE: "Restore and colorize the photo.",
    Kind.RESTORE: (
        "Restore the photo: remove scratches, dust, stains and noise and recover faded contrast. "
        "Keep its colours as they are, and keep it black and white if it is black and white. "
        "Do not change faces, people or composition."
    ),
    Kind.COLOURIZE: (
        "Colorize the photo with natural, realistic colors. "
        "Do not change faces, people, details or composition."
    ),
    # Wan 2.2 image-to-video: the photo is the first frame; the text says what moves. Old photos
    # need "keep it as it is" as much as edits do (models otherwise restyle faces and add people).
    Kind.ANIMATE: (
        "A short, natural video made from this old photo. "
        "Keep the people, faces, clothes, background, colours and style exactly as they are; "
        "no new people or objects, no text."
    ),
    # The start of a bring-together instruction; ``together_instruction`` names each person.
    Kind.BRING_TOGETHER: "Make one new photograph of these people together.",
}

# Animation motions a person picks in plain words (processing.kinds labels them): the phrase each
# adds to the instruction. The first is the default.
ANIMATE_MOTIONS: dict[str, str] = {
    "subtle_life": (
        "The people come gently to life: they breathe, blink and move very slightly. The camera stays still."
    ),
    "smile": "The person smiles softly and naturally, then relaxes. The camera stays still.",
    "look_around": (
        "The person turns their head a little to look around, then looks back. The camera stays still."
    ),
    "push_in": "The camera moves slowly and smoothly closer. The people stay still.",
}
# The person's own words about the motion (after the preset's phrase), at most this long.
ANIMATE_DESCRIPTION_MAX = 200

# Bring together: the settings a person can pick, by key, as the phrase the model gets
# (processing.kinds gives each its label in plain words).
TOGETHER_SETTINGS: dict[str, str] = {
    "side_by_side": "standing side by side, facing the camera",
    "sofa": "sitting together on a sofa in a living room",
    "family_table": "sitting together at a family dinner table",
    "garden": "outdoors together in a sunny garden",
}
# The instruction never grows past this, whatever the description (schema.MAX_INSTRUCTION_LENGTH
# is the worker's limit).
TOGETHER_MAX_LENGTH = 600
TOGETHER_DESCRIPTION_MAX = 200

NOTE_HINTS_UNUSED = "Colour hints are only used when colourizing; they were ignored."

# The person asked to keep a toned print's tone (``EngineRequest.keep_tone``; restore only).
KEEP_TONE = "Keep the print's original tone, such as sepia; do not neutralize it."


def _people(pictures: int) -> str:
    names = [f"the person in picture {n}" for n in range(1, pictures + 1)]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def together_instruction(pictures: int, options: dict[str, str] | None = None) -> str:
    """The bring-together instruction: names each person by picture, the setting (a preset's
    phrase or the person's own short description), colour or black and white; plain text,
    at most ``TOGETHER_MAX_LENGTH`` characters."""
    options = options or {}
    description = " ".join(
        "".join(ch if ch.isprintable() else " " for ch in options.get("description", "")).split()
    )
    description = description[:TOGETHER_DESCRIPTION_MAX].rstrip(" .")
    people = _people(max(1, pictures))
    if description:
        scene = f"Show {people}. The setting: {description}."
    else:
        phrase = TOGETHER_SETTINGS.get(options.get("preset", ""), TOGETHER_SETTINGS["side_by_side"])
        scene = f"Show {people} {phrase}."
    look = (
        "a black-and-white photograph"
        if options.get("colour") == "black_and_white"
        else "a natural color photograph"
    )
    text = (
        f"{INSTRUCTIONS[Kind.BRING_TOGETHER]} {scene} "
        "Keep each person's face, age, hair and clothes exactly as in their own picture. "
        f"Make it {look} with even, soft light and one consistent style."
    )
    return text[:TOGETHER_MAX_LENGTH]


def instruction_for(
    kind: Kind | str,
    hints: str | None = None,
    *,
    keep_tone: bool = False,
    options: dict[str, str] | None = None,
    pictures: int = 1,
) -> str:
    """The instruction for ``kind``, with the person's colour hints appended when colourizing
    and the keep-tone phrase when restoring a toned print the person wants kept as it is.
    Animation adds its motion's phrase (``options["preset"]``) and the person's short
    description (``options["description"]``), plain and length-limited; bring together builds
    its own from the ``pictures`` count and ``options``."""
    kind = Kind(kind)
    if kind in OWN_INSTRUCTIONS:
        return OWN_INSTRUCTIONS[kind](pictures, options or {})
    text = INSTRUCTIONS[kind]
    hints = clean_hints(hints)
    if hints and kind.colourizes:
        text = f"{text} Colors to use: {hints}."
    if keep_tone and not kind.colourizes:
        text = f"{text} {KEEP_TONE}"
    return text


def animate_instruction(pictures: int, options: dict[str, str]) -> str:
    """The animation instruction: keep the photo as it is, then the motion's phrase and the
    person's short description, plain and length-limited."""
    motion = ANIMATE_MOTIONS.get(options.get("preset", ""), next(iter(ANIMATE_MOTIONS.values())))
    described = clean_hints(options.get("description"))
    text = f"{INSTRUCTIONS[Kind.ANIMATE]} {motion}"
    if described:
        text = f"{text} Motion: {described[:ANIMATE_DESCRIPTION_MAX].rstrip()}."
    return text


# Kinds whose instruction is built from the person's options (and the number of pictures)
# rather than from colour hints and the keep-tone choice.
OWN_INSTRUCTIONS: dict[Kind, Callable[[int, dict[str, str]], str]] = {
    Kind.ANIMATE: animate_instruction,
    Kind.BRING_TOGETHER: together_instruction,
}
