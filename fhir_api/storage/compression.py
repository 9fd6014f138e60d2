"""Resource JSON compressed with a shared, trained dictionary (issue 15).

A reading's JSON is about 2 KB, and most of it repeats across readings: codes,
categories, profiles, units, extension URLs. Compressed alone it is ~800 bytes;
with a dictionary trained on representative resources, under 200. `zstandard`
was measured against the standard library's zlib with a preset dictionary
(`zdict`) on the storage bench's Observations: the same size within a few bytes,
but zstd at level 3 compresses about 20 times faster (6 µs against 130 µs per
resource) and its frames name their dictionary in their own header, so no format
of our own is needed.

Each stored value is one zstd frame whose header carries the dictionary id
(0: none); `compression_dictionaries` keeps every dictionary by that id, so a
newer one can be shipped for new writes while old rows stay readable, never
rewritten. The bundled dictionary (`dictionaries/*.zdict`, trained by
`bench/dictionary.py`) is the one new writes use; migration 0014 stores it in the
database. Decompressing gives back the exact bytes that were compressed.

`CompressedJSON` is the column type: code on both sides of it sees `str`.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import zstandard
from sqlalchemy import Connection, LargeBinary, select
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

__all__ = [
    "DEFAULT_DICTIONARY",
    "CompressedJSON",
    "UnknownDictionary",
    "bundled_dictionaries",
    "compress",
    "decompress",
    "load_dictionaries",
    "register",
]

_LEVEL = 3  # level 9 saves ~8 bytes a resource for 7x the time; 19 is 100x slower
_FOLDER = Path(__file__).resolve().parent / "dictionaries"


class UnknownDictionary(LookupError):
    """A stored value names a dictionary this process has not loaded."""


class _Codec:
    """A dictionary's compressor and decompressor (each thread gets its own objects)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.dictionary = zstandard.ZstdCompressionDict(data)
        self.id = self.dictionary.dict_id()
        self._local = threading.local()

    def compressor(self) -> zstandard.ZstdCompressor:
        found: zstandard.ZstdCompressor | None = getattr(self._local, "compressor", None)
        if found is None:
            found = zstandard.ZstdCompressor(
                level=_LEVEL, dict_data=self.dictionary, write_checksum=False
            )
            self._local.compressor = found
        return found

    def decompressor(self) -> zstandard.ZstdDecompressor:
        found: zstandard.ZstdDecompressor | None = getattr(self._local, "decompressor", None)
        if found is None:
            found = zstandard.ZstdDecompressor(dict_data=self.dictionary)
            self._local.decompressor = found
        return found


_CODECS: dict[int, _Codec] = {}
_PLAIN = zstandard.ZstdDecompressor()


def register(data: bytes) -> int:
    """Make a dictionary available for reading (and, if bundled, writing); its id."""
    codec = _Codec(data)
    _CODECS.setdefault(codec.id, codec)
    return codec.id


def bundled_dictionaries() -> dict[int, bytes]:
    """The dictionaries shipped with the code, by id."""
    found = {}
    for path in sorted(_FOLDER.glob("*.zdict")):
        data = path.read_bytes()
        found[register(data)] = data
    return found


_BUNDLED = bundled_dictionaries()
# The dictionary new writes use, named explicitly (zstd ids are random, not ordered):
# shipping a newer one means adding its file, a migration row for it, and this id.
DEFAULT_DICTIONARY = 2022378429
if DEFAULT_DICTIONARY not in _BUNDLED:
    raise RuntimeError(f"{_FOLDER}/{DEFAULT_DICTIONARY}.zdict is missing from the installation")


def load_dictionaries(connection: Connection) -> None:
    """Register every dictionary the database keeps (ones newer than this code included)."""
    from .schema import compression_dictionaries

    for (data,) in connection.execute(select(compression_dictionaries.c.content)):
        register(bytes(data))


def compress(text: str, dictionary: int = DEFAULT_DICTIONARY) -> bytes:
    """One zstd frame of `text`'s UTF-8, naming `dictionary` in its header."""
    return _CODECS[dictionary].compressor().compress(text.encode())


def decompress(blob: bytes) -> str:
    """The exact text `compress` was given.

    Raises:
        UnknownDictionary: the frame names a dictionary that is not loaded.
    """
    dictionary = zstandard.get_frame_parameters(blob).dict_id
    if dictionary == 0:
        return _PLAIN.decompress(blob).decode()
    codec = _CODECS.get(dictionary)
    if codec is None:
        raise UnknownDictionary(f"compression dictionary {dictionary} is not loaded")
    return codec.decompressor().decompress(blob).decode()


class CompressedJSON(TypeDecorator[str]):
    """A JSON text column stored compressed (`LargeBinary`); "" stays empty (a deletion)."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        return compress(value) if value else b""

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return decompress(bytes(value)) if value else ""
