"""Crafted image files for the data tests: small files whose headers lie about the image."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(path: Path, width: int, height: int) -> Path:
    """A few-hundred-byte PNG whose header claims an 8-bit grey image of width x height pixels.

    The header, chunk CRCs and end marker are valid, so only the claimed size gives it away:
    decoding it would allocate width * height bytes (a decompression bomb).
    """
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale, no interlace
    pixels = zlib.compress(b"\0" * 1000)  # far fewer rows than claimed
    chunks = _chunk(b"IHDR", header) + _chunk(b"IDAT", pixels) + _chunk(b"IEND", b"")
    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + chunks)
    return Path(path)
