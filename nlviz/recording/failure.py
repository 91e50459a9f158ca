"""What the recorder does when writing fails: name the cause, close without writing more.

HDF5 reports an OS error inside its message ("errno = 28"); ``errno_of`` digs it out so a
full disk reads as "disk full" whichever call hit it. ``close_abandoned`` closes a file
whose last write failed without letting HDF5 flush into the failing disk again.
"""
from __future__ import annotations

import errno
import os
import re

import h5py

from nlviz.errors import one_line

DISK_FULL = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)   # no space, file size limit, quota
ERRNO_RE = re.compile(r"errno = (\d+)")


class Vanished(OSError):  # noqa: N818 - a condition, raised and caught here only
    """The output path no longer names the file being written (deleted or replaced)."""


def errno_of(exc: BaseException | None) -> int | None:
    """The OS error number behind an h5py/HDF5 error (HDF5 puts it in the message)."""
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno and not isinstance(exc, Vanished):
            return int(exc.errno)
        m = ERRNO_RE.search(str(exc))
        if m:
            return int(m.group(1))
        exc = exc.__cause__ or exc.__context__
    return None


def reason(exc: BaseException) -> str:
    """A short cause: "disk full", the OS error text, or the message on one line."""
    code = errno_of(exc)
    if code in DISK_FULL:
        return "disk full"
    return os.strerror(code) if code is not None else one_line(exc)


def close_abandoned(f: h5py.File) -> None:
    """Close ``f`` after an I/O failure without writing anything more to it.

    HDF5 flushes its caches on close (and on every object's release); after a failed
    write that flush fails again and again (one "Exception ignored" traceback per object,
    and a crash seen at exit), and a partial flush could break the state the last commit
    left on disk. Pointing HDF5's descriptor at /dev/null first makes the close quiet and
    leaves the file exactly as the last successful write left it.
    """
    try:
        if f.id.valid and f.driver == "sec2":
            fd = f.id.get_vfd_handle()
            null = os.open(os.devnull, os.O_RDWR)
            try:
                os.dup2(null, fd)
            finally:
                os.close(null)
    except Exception:  # noqa: BLE001 - best effort; the close below still runs
        pass
    try:
        f.close()
    except Exception:  # noqa: BLE001
        pass
