"""Open a recording file with every check that comes before its own invariants: exists,
is HDF5, is not cut short, opens (bounded in time), and turns any error of the caller's
header check into one line. Run and training recordings open the same way."""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

import h5py

from nlviz.errors import one_line
from nlviz.recording.base import RecordingError
from nlviz.recording.h5open import open_h5

T = TypeVar("T")

# what a damaged file can raise from h5py / numpy while its header is read and checked
OPEN_ERRORS = (KeyError, ValueError, TypeError, OSError, RuntimeError, OverflowError,
               MemoryError, RecursionError, UnicodeError, IndexError)
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def open_checked(path: str, build: Callable[[str, h5py.File], T], what: str) -> T:
    """``build(path, file)`` on the opened file; the file is closed if it fails.

    Raises
    ------
    RecordingError : missing, not HDF5, truncated, unopenable, or ``build`` failed (its own
        RecordingError passes through; any other error reads "damaged <what>").
    """
    if not os.path.exists(path):
        raise RecordingError(f"{path}: no such file")
    if not h5py.is_hdf5(path):
        raise RecordingError(f"{path}: not an HDF5 file")
    check_not_truncated(path)
    try:
        f = open_h5(path)
    except (OSError, RuntimeError, ValueError) as exc:
        raise RecordingError(f"{path}: cannot open: {one_line(exc)}") from None
    try:
        return build(path, f)
    except RecordingError:
        f.close()
        raise
    except OPEN_ERRORS as exc:
        f.close()
        raise RecordingError(f"{path}: damaged {what}: {type(exc).__name__}: "
                             f"{one_line(exc)}") from None


def check_not_truncated(path: str) -> None:
    """Refuse a file shorter than the end-of-file address its superblock records.

    A SWMR open does not check this and retries unreadable metadata for minutes, so a
    cut-off copy would hang the reader; a file being written never has fewer bytes than
    its superblock's end of file (the writer grows the file before it records the EOF).
    Superblock versions 2 and 3 (what nlviz writes) only; others are left to HDF5.
    """
    with open(path, "rb") as fh:
        head = fh.read(48)
    if len(head) < 13 or head[:8] != _HDF5_SIGNATURE or head[8] not in (2, 3):
        return
    size_of_offsets = head[9]
    start = 12 + 2 * size_of_offsets                 # after base and extension addresses
    if len(head) < start + size_of_offsets:
        return
    eof = int.from_bytes(head[start:start + size_of_offsets], "little")
    actual = os.path.getsize(path)
    if actual < eof:
        raise RecordingError(f"{path}: truncated file ({actual:,} of {eof:,} bytes); "
                             "it was cut off, e.g. by an interrupted copy")
