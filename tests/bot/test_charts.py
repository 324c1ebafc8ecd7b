"""The dependency-free PNG chart decodes to the pixels it claims to draw."""

from __future__ import annotations

import struct
import zlib

from bot.charts import HEIGHT, WIDTH, line_chart_png


def _chunks(png: bytes) -> dict[bytes, bytes]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    chunks: dict[bytes, bytes] = {}
    offset = 8
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        kind = png[offset + 4 : offset + 8]
        data = png[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", png[offset + 8 + length : offset + 12 + length])
        assert crc == zlib.crc32(kind + data) & 0xFFFFFFFF
        chunks[kind] = chunks.get(kind, b"") + data
        offset += 12 + length
    return chunks


def test_chart_is_a_valid_indexed_png_with_drawn_lines() -> None:
    png = line_chart_png([("spend", [1.0, 5.0, None, 3.0, 4.0]), ("cpa", [2.0, 2.0, 1.0, 0.5, 9])])
    chunks = _chunks(png)
    width, height, depth, colour_type = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (width, height, depth, colour_type) == (WIDTH, HEIGHT, 8, 3)
    raw = zlib.decompress(chunks[b"IDAT"])
    assert len(raw) == height * (width + 1)
    used = set(raw) - {0}  # filter bytes and background are 0
    assert {1, 2, 3} <= used  # axis and both series colours appear
    assert len(chunks[b"PLTE"]) % 3 == 0


def test_no_data_draws_only_the_axes() -> None:
    raw = zlib.decompress(_chunks(line_chart_png([("spend", [None, None])]))[b"IDAT"])
    assert set(raw) == {0, 1}


def _rows(png: bytes) -> list[bytes]:
    raw = zlib.decompress(_chunks(png)[b"IDAT"])
    return [raw[row * (WIDTH + 1) + 1 : (row + 1) * (WIDTH + 1)] for row in range(HEIGHT)]


def _labelled(first: str = "27 MAY", last: str = "09 JUN") -> list[bytes]:
    from bot.charts import labelled_line_chart_png

    return _rows(
        labelled_line_chart_png(
            [0.0, 60.0, 120.0],
            title="Daily spend (USD)",
            first_label=first,
            last_label=last,
            value_label=lambda value: f"{value:,.0f}",
        )
    )


def test_the_labelled_chart_writes_its_title_values_and_dates() -> None:
    from bot.chart_font import GLYPH_HEIGHT, text_width

    rows = _labelled()
    title_rows = rows[16 : 16 + GLYPH_HEIGHT * 2]
    # The title is ink (index 1) in the top band, starting at the margin.
    assert any(1 in row[16 : 16 + text_width("Daily spend (USD)", 2)] for row in title_rows)
    # The x axis labels sit below the axis, at both ends.
    bottom_band = rows[HEIGHT - 16 - GLYPH_HEIGHT * 2 : HEIGHT - 16]
    assert any(1 in row[: WIDTH // 4] for row in bottom_band)
    assert any(1 in row[-WIDTH // 4 :] for row in bottom_band)
    # The line itself (index 2) rises from bottom left to top right.
    line = [(y, x) for y, row in enumerate(rows) for x, value in enumerate(row) if value == 2]
    assert min(line, key=lambda p: p[1])[0] > max(line, key=lambda p: p[1])[0]


def test_different_labels_draw_different_pixels() -> None:
    assert _labelled(first="01 JAN") != _labelled(first="02 JAN")
