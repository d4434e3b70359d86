"""Just enough of the protobuf wire format to build and read Slotwise
messages by hand in raw-MQTT tests (field numbers from schemas/slotwise/v1/):
varints, tagged fields, and a decoder to {field number: [values]}.
"""

from __future__ import annotations

import struct

VARINT, FIXED64, LEN, FIXED32 = 0, 1, 2, 5


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """(value, position after it)."""
    value, shift = 0, 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def tag(field: int, wire: int) -> bytes:
    return varint(field << 3 | wire)


def len_field(field: int, data: bytes | str) -> bytes:
    if isinstance(data, str):
        data = data.encode()
    return tag(field, LEN) + varint(len(data)) + data


def varint_field(field: int, value: int) -> bytes:
    return tag(field, VARINT) + varint(value)


def double_field(field: int, x: float) -> bytes:
    return tag(field, FIXED64) + struct.pack("<d", x)


def decode_fields(data: bytes) -> dict[int, list]:
    """field number -> values (ints for varints; bytes for length-delimited, fixed64
    and fixed32, e.g. struct.unpack("<d", v) for a double)."""
    out: dict[int, list] = {}
    pos = 0
    while pos < len(data):
        key, pos = read_varint(data, pos)
        field, wire = key >> 3, key & 7
        if wire == VARINT:
            value, pos = read_varint(data, pos)
        elif wire == LEN:
            length, pos = read_varint(data, pos)
            value = data[pos:pos + length]
            pos += length
        elif wire == FIXED64:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == FIXED32:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"unexpected wire type {wire}")
        out.setdefault(field, []).append(value)
    return out
