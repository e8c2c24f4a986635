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
}

NOTE_HINTS_UNUSED = "Colour hints are only used when colourizing; they were ignored."

# The person asked to keep a toned print's tone (``EngineRequest.keep_tone``; restore only).
KEEP_TONE = "Keep the print's original tone, such as sepia; do not neutralize it."


def instruction_for(kind: Kind | str, hints: str | None = None, *, keep_tone: bool = False) -> str:
    """The instruction for ``kind``, with the person's colour hints appended when colourizing
    and the keep-tone phrase when restoring a toned print the person wants kept as it is."""
    kind = Kind(kind)
    text = INSTRUCTIONS[kind]
    hints = clean_hints(hints)
    if hints and kind.colourizes:
        text = f"{text} Colors to use: {hints}."
    if keep_tone and not kind.colourizes:
        text = f"{text} {KEEP_TONE}"
    return text
