"""A small, bounds-checked FlatBuffers reader (tables, strings, vectors, scalars).

Enough to read a ``.tflite``'s tensor shapes and types and its metadata without
any dependency, and to refuse hostile files before an interpreter parses them:
every offset is checked against the buffer, so a broken file raises
:class:`FlatBufferError` instead of reading out of bounds.
"""

from __future__ import annotations

import struct


class FlatBufferError(ValueError):
    pass


class Table:
    __slots__ = ("buf", "pos", "vt", "vt_len")

    def __init__(self, buf: bytes, pos: int):
        self.buf, self.pos = buf, pos
        _check(buf, pos, 4)
        vt = pos - struct.unpack_from("<i", buf, pos)[0]
        _check(buf, vt, 4)
        vt_len = struct.unpack_from("<H", buf, vt)[0]
        if vt_len < 4 or vt_len % 2:
            raise FlatBufferError("bad vtable")
        _check(buf, vt, vt_len)
        self.vt, self.vt_len = vt, vt_len

    def _field(self, i: int) -> int:
        off = 4 + 2 * i
        if off >= self.vt_len:
            return 0
        return struct.unpack_from("<H", self.buf, self.vt + off)[0]

    def has(self, i: int) -> bool:
        return self._field(i) != 0

    def scalar(self, i: int, fmt: str, default=0):
        o = self._field(i)
        if not o:
            return default
        _check(self.buf, self.pos + o, struct.calcsize(fmt))
        return struct.unpack_from("<" + fmt, self.buf, self.pos + o)[0]

    def _indirect(self, i: int) -> int | None:
        o = self._field(i)
        if not o:
            return None
        p = self.pos + o
        _check(self.buf, p, 4)
        return p + struct.unpack_from("<I", self.buf, p)[0]

    def table(self, i: int) -> "Table | None":
        p = self._indirect(i)
        return None if p is None else Table(self.buf, p)

    def string(self, i: int) -> str | None:
        p = self._indirect(i)
        return None if p is None else _string_at(self.buf, p)

    def _vector(self, i: int, elem: int) -> tuple[int, int]:
        p = self._indirect(i)
        if p is None:
            return 0, 0
        _check(self.buf, p, 4)
        n = struct.unpack_from("<I", self.buf, p)[0]
        _check(self.buf, p + 4, n * elem)
        return p + 4, n

    def tables(self, i: int) -> list["Table"]:
        start, n = self._vector(i, 4)
        out = []
        for k in range(n):
            p = start + 4 * k
            out.append(Table(self.buf, p + struct.unpack_from("<I", self.buf, p)[0]))
        return out

    def strings(self, i: int) -> list[str]:
        start, n = self._vector(i, 4)
        return [_string_at(self.buf, start + 4 * k + struct.unpack_from("<I", self.buf, start + 4 * k)[0])
                for k in range(n)]

    def scalars(self, i: int, fmt: str) -> list:
        size = struct.calcsize(fmt)
        start, n = self._vector(i, size)
        return list(struct.unpack_from(f"<{n}{fmt}", self.buf, start)) if n else []

    def bytes_(self, i: int) -> bytes:
        start, n = self._vector(i, 1)
        return bytes(self.buf[start:start + n])


def _check(buf, pos: int, n: int) -> None:
    if pos < 0 or n < 0 or pos + n > len(buf):
        raise FlatBufferError("offset out of bounds")


def _string_at(buf, p: int) -> str:
    _check(buf, p, 4)
    n = struct.unpack_from("<I", buf, p)[0]
    _check(buf, p + 4, n)
    try:
        return bytes(buf[p + 4:p + 4 + n]).decode("utf-8")
    except UnicodeDecodeError:
        raise FlatBufferError("string is not UTF-8") from None


def root(buf: bytes, identifier: bytes | None = None) -> Table:
    """The root table; checks the 4-byte file identifier when given."""
    if len(buf) < 8:
        raise FlatBufferError("too short to be a flatbuffer")
    if identifier is not None and bytes(buf[4:8]) != identifier:
        raise FlatBufferError(f"file identifier is {bytes(buf[4:8])!r}, expected {identifier!r}")
    return Table(buf, struct.unpack_from("<I", buf, 0)[0])
