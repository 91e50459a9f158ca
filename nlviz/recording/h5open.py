"""Open an HDF5 recording for reading in bounded time.

A SWMR read (``h5py.File(..., swmr=True)``) retries every metadata block whose checksum
does not match, 100 times with a growing sleep, because a writer may be half-way through
rewriting it. On a damaged file (one flipped bit in an object header or a B-tree node)
that is a hang of over a minute per unreadable block. ``open_h5`` sets the number of read
attempts on its own file-access property list (``H5Pset_metadata_read_attempts``, which
h5py does not wrap, so it is called through ``ctypes`` on the HDF5 library h5py loaded):
``METADATA_READ_ATTEMPTS`` attempts take a few milliseconds in all, still ample for a
writer's torn block (it rewrites one in microseconds), and a damaged block then fails at
once with "incorrect metadata checksum after all read attempts".
"""
from __future__ import annotations

import ctypes
import functools
import os

import h5py

METADATA_READ_ATTEMPTS = 16   # HDF5's SWMR default is 100 (about 80 s of back-off sleeps)


@functools.lru_cache(maxsize=1)
def _set_attempts_fn() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    """``H5Pset_metadata_read_attempts`` of the HDF5 library h5py is linked to, or None."""
    candidates: list[str] = []
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                p = line.split()[-1] if line.strip() else ""
                name = os.path.basename(p)
                hdf5 = name.startswith("libhdf5") and not name.startswith("libhdf5_hl")
                if hdf5 and p not in candidates:
                    candidates.append(p)
    except OSError:
        pass
    for p in candidates:
        try:
            fn = ctypes.CDLL(p).H5Pset_metadata_read_attempts
        except (OSError, AttributeError):
            continue
        fn.argtypes = [ctypes.c_int64, ctypes.c_uint]
        fn.restype = ctypes.c_int
        return fn
    return None


def bounded_retries_available() -> bool:
    """True when SWMR opens use ``METADATA_READ_ATTEMPTS`` (else HDF5's default)."""
    return _set_attempts_fn() is not None


def _fapl(attempts: int | None) -> h5py.h5p.PropFAID:
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_libver_bounds(h5py.h5f.LIBVER_LATEST, h5py.h5f.LIBVER_LATEST)
    fn = _set_attempts_fn()
    if attempts is not None and fn is not None:
        fn(fapl.id, int(attempts))
    return fapl


def open_h5(path: str) -> h5py.File:
    """Open ``path`` read-only: SWMR (also while a writer appends) with bounded metadata
    retries, else a plain read-only open (files not written in the "latest" format).

    Raises
    ------
    OSError / RuntimeError : HDF5 could not open the file (the caller words the message).
    """
    name = os.fsencode(path)
    try:
        fid = h5py.h5f.open(name, h5py.h5f.ACC_RDONLY | h5py.h5f.ACC_SWMR_READ,
                            fapl=_fapl(METADATA_READ_ATTEMPTS))
    except (OSError, RuntimeError, ValueError):
        fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
        fid = h5py.h5f.open(name, h5py.h5f.ACC_RDONLY, fapl=fapl)
    return h5py.File(fid)


__all__ = ["METADATA_READ_ATTEMPTS", "bounded_retries_available", "open_h5"]
