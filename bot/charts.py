"""Tiny dependency-free PNG line charts (zlib only): `report`'s spend/CPA, the summary's spend."""

from __future__ import annotations

import itertools
import struct
import zlib
from collections.abc import Callable, Sequence

from bot.chart_font import GLYPH_HEIGHT, draw_text, text_width

Series = tuple[str, Sequence[float | None]]
RGB = tuple[int, int, int]

WIDTH, HEIGHT, MARGIN = 480, 200, 16
_BACKGROUND: RGB = (255, 255, 255)
_AXIS: RGB = (160, 160, 160)
# One colour per series; each series gets its own vertical scale (spend and CPA differ in size).
_COLOURS: tuple[RGB, ...] = ((33, 102, 172), (214, 96, 77), (77, 146, 33))


# An indexed (palette) image: one byte a pixel, a third of the work of RGB to fill and encode.
_PALETTE: tuple[RGB, ...] = (_BACKGROUND, _AXIS, *_COLOURS)
_AXIS_INDEX, _FIRST_COLOUR_INDEX = 1, 2


def line_chart_png(series: Sequence[Series], *, width: int = WIDTH, height: int = HEIGHT) -> bytes:
    """PNG bytes of one line per series over equally spaced points; gaps (None) break a line."""
    pixels = bytearray(width * height)  # all index 0: the background
    canvas = _Canvas(pixels, width, height)
    canvas.line(MARGIN, height - MARGIN, width - MARGIN, height - MARGIN, _AXIS_INDEX)
    canvas.line(MARGIN, MARGIN, MARGIN, height - MARGIN, _AXIS_INDEX)
    for index, (_name, values) in enumerate(series):
        colour = _FIRST_COLOUR_INDEX + index % len(_COLOURS)
        points = _scale(values, width, height)
        for start, end in itertools.pairwise(points):
            if start is not None and end is not None:
                canvas.line(*start, *end, colour)
                canvas.line(start[0], start[1] + 1, end[0], end[1] + 1, colour)
    return _encode(pixels, width, height)


def _scale(values: Sequence[float | None], width: int, height: int) -> list[tuple[int, int] | None]:
    present = [value for value in values if value is not None]
    if not present or len(values) < 2:
        return [None for _ in values]
    low, high = min(present), max(present)
    span = (high - low) or 1.0
    step = (width - 2 * MARGIN - 1) / (len(values) - 1)
    usable = height - 2 * MARGIN - 2
    return [
        None
        if value is None
        else (MARGIN + round(index * step), MARGIN + round(usable - (value - low) / span * usable))
        for index, value in enumerate(values)
    ]


class _Canvas:
    def __init__(self, pixels: bytearray, width: int, height: int) -> None:
        self.pixels, self.width, self.height = pixels, width, height

    def dot(self, x: int, y: int, colour: int) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            self.pixels[y * self.width + x] = colour

    def line(self, x0: int, y0: int, x1: int, y1: int, colour: int) -> None:
        """Bresenham: integer steps, no anti-aliasing (a chat thumbnail needs none)."""
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
        error = dx + dy
        while True:
            self.dot(x0, y0, colour)
            if x0 == x1 and y0 == y1:
                return
            doubled = 2 * error
            if doubled >= dy:
                error += dy
                x0 += sx
            if doubled <= dx:
                error += dx
                y0 += sy


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def _encode(pixels: bytearray, width: int, height: int) -> bytes:
    # Filter type 0 (none) before each scanline.
    raw = b"".join(b"\x00" + pixels[row * width : (row + 1) * width] for row in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)  # 8-bit, colour type 3
    palette = b"".join(bytes(colour) for colour in _PALETTE)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"PLTE", palette)
        + _chunk(b"IDAT", zlib.compress(raw, 6))
        + _chunk(b"IEND", b"")
    )


def labelled_line_chart_png(
    values: Sequence[float],
    *,
    title: str,
    first_label: str,
    last_label: str,
    value_label: Callable[[float], str],
    width: int = WIDTH,
    height: int = HEIGHT,
) -> bytes:
    """One line from zero up, with a title, the y axis's 0 and top value, and the x axis's ends."""
    scale = 2
    pixels = bytearray(width * height)
    canvas = _Canvas(pixels, width, height)
    top = max(max(values, default=0.0), 0.0) or 1.0
    top_text, zero_text = value_label(top), value_label(0.0)
    text_height = GLYPH_HEIGHT * scale
    left = MARGIN + max(text_width(top_text, scale), text_width(zero_text, scale)) + 4
    plot_top, bottom = MARGIN + text_height + 6, height - MARGIN - text_height - 4
    right = width - MARGIN

    def ink(x: int, y: int) -> None:
        canvas.dot(x, y, _AXIS_INDEX)

    draw_text(ink, MARGIN, MARGIN, title, scale=scale)
    canvas.line(left, bottom, right, bottom, _AXIS_INDEX)
    canvas.line(left, plot_top, left, bottom, _AXIS_INDEX)
    draw_text(ink, left - 4 - text_width(top_text, scale), plot_top, top_text, scale=scale)
    draw_text(
        ink, left - 4 - text_width(zero_text, scale), bottom - text_height, zero_text, scale=scale
    )
    draw_text(ink, left, bottom + 4, first_label, scale=scale)
    draw_text(ink, right - text_width(last_label, scale), bottom + 4, last_label, scale=scale)
    if len(values) >= 2:
        step = (right - left - 2) / (len(values) - 1)
        usable = bottom - plot_top - 2
        points = [
            (left + 1 + round(index * step), bottom - 1 - round(max(value, 0.0) / top * usable))
            for index, value in enumerate(values)
        ]
        for start, end in itertools.pairwise(points):
            canvas.line(*start, *end, _FIRST_COLOUR_INDEX)
            canvas.line(start[0], start[1] - 1, end[0], end[1] - 1, _FIRST_COLOUR_INDEX)
    return _encode(pixels, width, height)
