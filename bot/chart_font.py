"""A 3×5 pixel font for chart labels: digits, capitals and the few signs axes need."""

from __future__ import annotations

from collections.abc import Callable

GLYPH_WIDTH, GLYPH_HEIGHT = 3, 5

# Each glyph is five rows of three pixels ("#" set); lower case is drawn as capitals.
_GLYPHS: dict[str, tuple[str, str, str, str, str]] = {
    " ": ("   ", "   ", "   ", "   ", "   "),
    "0": ("###", "# #", "# #", "# #", "###"),
    "1": (" # ", "## ", " # ", " # ", "###"),
    "2": ("###", "  #", "###", "#  ", "###"),
    "3": ("###", "  #", " ##", "  #", "###"),
    "4": ("# #", "# #", "###", "  #", "  #"),
    "5": ("###", "#  ", "###", "  #", "###"),
    "6": ("###", "#  ", "###", "# #", "###"),
    "7": ("###", "  #", " # ", " # ", " # "),
    "8": ("###", "# #", "###", "# #", "###"),
    "9": ("###", "# #", "###", "  #", "###"),
    "A": (" # ", "# #", "###", "# #", "# #"),
    "B": ("## ", "# #", "## ", "# #", "## "),
    "C": ("###", "#  ", "#  ", "#  ", "###"),
    "D": ("## ", "# #", "# #", "# #", "## "),
    "E": ("###", "#  ", "## ", "#  ", "###"),
    "F": ("###", "#  ", "## ", "#  ", "#  "),
    "G": ("###", "#  ", "# #", "# #", "###"),
    "H": ("# #", "# #", "###", "# #", "# #"),
    "I": ("###", " # ", " # ", " # ", "###"),
    "J": ("  #", "  #", "  #", "# #", "###"),
    "K": ("# #", "## ", "#  ", "## ", "# #"),
    "L": ("#  ", "#  ", "#  ", "#  ", "###"),
    "M": ("# #", "###", "###", "# #", "# #"),
    "N": ("## ", "# #", "# #", "# #", "# #"),
    "O": ("###", "# #", "# #", "# #", "###"),
    "P": ("###", "# #", "###", "#  ", "#  "),
    "Q": ("###", "# #", "# #", "###", "  #"),
    "R": ("## ", "# #", "## ", "# #", "# #"),
    "S": ("###", "#  ", "###", "  #", "###"),
    "T": ("###", " # ", " # ", " # ", " # "),
    "U": ("# #", "# #", "# #", "# #", "###"),
    "V": ("# #", "# #", "# #", "# #", " # "),
    "W": ("# #", "# #", "###", "###", "# #"),
    "X": ("# #", "# #", " # ", "# #", "# #"),
    "Y": ("# #", "# #", " # ", " # ", " # "),
    "Z": ("###", "  #", " # ", "#  ", "###"),
    "-": ("   ", "   ", "###", "   ", "   "),
    ".": ("   ", "   ", "   ", "   ", " # "),
    ",": ("   ", "   ", "   ", " # ", "#  "),
    ":": ("   ", " # ", "   ", " # ", "   "),
    "/": ("  #", "  #", " # ", "#  ", "#  "),
    "(": (" # ", "#  ", "#  ", "#  ", " # "),
    ")": (" # ", "  #", "  #", "  #", " # "),
    "%": ("# #", "  #", " # ", "#  ", "# #"),
}
_UNKNOWN = ("###", "# #", "# #", "# #", "###")


def text_width(text: str, scale: int = 1) -> int:
    """Pixels `text` takes: glyphs plus one column of space between them."""
    if not text:
        return 0
    return (len(text) * (GLYPH_WIDTH + 1) - 1) * scale


def draw_text(
    dot: Callable[[int, int], None], x: int, y: int, text: str, *, scale: int = 1
) -> None:
    """Draw `text` with its top-left corner at (x, y) through `dot(x, y)`."""
    for index, char in enumerate(text.upper()):
        glyph = _GLYPHS.get(char, _UNKNOWN)
        left = x + index * (GLYPH_WIDTH + 1) * scale
        for row, bits in enumerate(glyph):
            for column, bit in enumerate(bits):
                if bit == "#":
                    for dy in range(scale):
                        for dx in range(scale):
                            dot(left + column * scale + dx, y + row * scale + dy)
