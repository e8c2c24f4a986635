"""The instruction a generative engine gets for each kind of work. Shared by the RunPod client
(which sends it) and our RunPod worker (which falls back to it), so both agree."""

from __future__ import annotations

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

NOTE_HINTS_UNUSED = "Colour hints are only used when colourizing; they were ignored."

# The person asked to keep a toned print's tone (``EngineRequest.keep_tone``; restore only).
KEEP_TONE = "Keep the print's original tone, such as sepia; do not neutralize it."


def instruction_for(
    kind: Kind | str,
    hints: str | None = None,
    *,
    keep_tone: bool = False,
    options: dict[str, str] | None = None,
) -> str:
    """The instruction for ``kind``, with the person's colour hints appended when colourizing
    and the keep-tone phrase when restoring a toned print the person wants kept as it is.
    Animation adds its motion's phrase (``options["preset"]``) and the person's short
    description (``options["description"]``), plain and length-limited."""
    kind = Kind(kind)
    text = INSTRUCTIONS[kind]
    if kind is Kind.ANIMATE:
        return _animate_instruction(text, options or {})
    hints = clean_hints(hints)
    if hints and kind.colourizes:
        text = f"{text} Colors to use: {hints}."
    if keep_tone and not kind.colourizes:
        text = f"{text} {KEEP_TONE}"
    return text


def _animate_instruction(base: str, options: dict[str, str]) -> str:
    motion = ANIMATE_MOTIONS.get(options.get("preset", ""), next(iter(ANIMATE_MOTIONS.values())))
    described = clean_hints(options.get("description"))
    text = f"{base} {motion}"
    if described:
        text = f"{text} Motion: {described[:ANIMATE_DESCRIPTION_MAX].rstrip()}."
    return text
