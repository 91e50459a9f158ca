"""Mend the end-of-file address of an HDF5 superblock (versions 2 and 3) after a failed write.

When the disk fills up in the middle of a flush, HDF5 may already have written a
superblock whose end-of-file address lies beyond the bytes that reached the disk (the
file could not be extended). Readers rightly refuse such a file as cut off. The rows
the recorder committed before the failure all lie below the real end of the file, so
``clamp_eof`` writes the real size into the superblock (with its Jenkins lookup3
checksum, as HDF5 computes it): an in-place overwrite of 8 + 4 bytes at the start of
the file, which needs no new disk space.
"""
from __future__ import annotations

import os

_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_M = 0xFFFFFFFF


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _M


def lookup3(data: bytes, initval: int = 0) -> int:
    """Bob Jenkins' lookup3 ``hashlittle`` (HDF5's metadata checksum)."""
    n = len(data)
    a = b = c = (0xDEADBEEF + n + initval) & _M
    i = 0
    while n > 12:
        a = (a + int.from_bytes(data[i:i + 4], "little")) & _M
        b = (b + int.from_bytes(data[i + 4:i + 8], "little")) & _M
        c = (c + int.from_bytes(data[i + 8:i + 12], "little")) & _M
        a = (a - c) & _M; a ^= _rot(c, 4); c = (c + b) & _M
        b = (b - a) & _M; b ^= _rot(a, 6); a = (a + c) & _M
        c = (c - b) & _M; c ^= _rot(b, 8); b = (b + a) & _M
        a = (a - c) & _M; a ^= _rot(c, 16); c = (c + b) & _M
        b = (b - a) & _M; b ^= _rot(a, 19); a = (a + c) & _M
        c = (c - b) & _M; c ^= _rot(b, 4); b = (b + a) & _M
        n -= 12
        i += 12
    if n == 0:
        return c
    tail = data[i:i + n] + bytes(12 - n)
    a = (a + int.from_bytes(tail[0:4], "little")) & _M
    b = (b + int.from_bytes(tail[4:8], "little")) & _M
    c = (c + int.from_bytes(tail[8:12], "little")) & _M
    c ^= b; c = (c - _rot(b, 14)) & _M
    a ^= c; a = (a - _rot(c, 11)) & _M
    b ^= a; b = (b - _rot(a, 25)) & _M
    c ^= b; c = (c - _rot(b, 16)) & _M
    a ^= c; a = (a - _rot(c, 4)) & _M
    b ^= a; b = (b - _rot(a, 14)) & _M
    c ^= b; c = (c - _rot(b, 24)) & _M
    return c


def clamp_eof(path: str) -> bool:
    """Lower the superblock's end-of-file address to the file's size if it is larger.

    Returns True if the superblock was rewritten; False if it needed nothing or is not a
    version 2/3 superblock with a valid checksum (then nothing is touched).
    """
    fd = os.open(path, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
    try:
        head = os.pread(fd, 64, 0)
        if len(head) < 12 or head[:8] != _SIGNATURE or head[8] not in (2, 3):
            return False
        so = head[9]
        end = 12 + 4 * so                      # base, extension, end-of-file, root addresses
        if so not in (4, 8) or len(head) < end + 4:
            return False
        if lookup3(head[:end]) != int.from_bytes(head[end:end + 4], "little"):
            return False
        at = 12 + 2 * so
        eof = int.from_bytes(head[at:at + so], "little")
        size = os.fstat(fd).st_size
        if eof <= size:
            return False
        new = head[:at] + size.to_bytes(so, "little") + head[at + so:end]
        os.pwrite(fd, new[at:end] + lookup3(new).to_bytes(4, "little"), at)
        os.fsync(fd)
        return True
    finally:
        os.close(fd)
