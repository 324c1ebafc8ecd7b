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
