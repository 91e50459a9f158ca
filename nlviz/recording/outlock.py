"""One writer per recording file, and no recording replaced without asking.

``OutputLock.claim(path, overwrite=...)`` checks the output path, creates or opens the
file *without truncating it* and takes an OS write lock on it, before HDF5 ever opens it
(HDF5's create mode truncates at open, so the lock must come first). The lock is an
open-file-description ``fcntl`` record lock (``F_OFD_SETLK``, Linux): it is independent
of HDF5's own ``flock`` locking (``HDF5_USE_FILE_LOCKING``), which the SWMR writer drops
once SWMR mode is on, so live readers still open the file while a second writer is
refused. Replacing an existing file is also refused while an HDF5 reader (a replay)
has it open. Where OFD locks do not exist a per-process POSIX lock is used; without
``fcntl`` (Windows) only the existing-file check applies. The lock lives as long as the
claim's descriptor (also freed by ``kill -9``).
"""
from __future__ import annotations

import errno
import os
import stat
import struct

from nlviz.errors import UserError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class OutputExists(UserError):  # noqa: N818 - public name the CLI and tests catch
    """The output file exists and ``overwrite`` was not given (the app may ask and retry)."""


class OutputBusy(UserError):  # noqa: N818 - public name the CLI and tests catch
    """Another process (or this one) is writing the output file."""


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _lock(fd: int) -> bool:
    """Try to take the write lock; False if someone else holds it."""
    if fcntl is None:  # pragma: no cover
        return True
    try:
        op = getattr(fcntl, "F_OFD_SETLK", None)
        if op is not None:   # struct flock: l_type, l_whence, l_start, l_len, l_pid (+pad)
            fcntl.fcntl(fd, op, struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0))
        else:  # pragma: no cover - not Linux
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return False
        if exc.errno in (errno.ENOLCK, errno.EINVAL, errno.EOPNOTSUPP):
            return True   # file system without locks: the existing-file check still applies
        raise
    return True


def _held_by_hdf5(fd: int) -> bool:
    """True if an HDF5 reader or writer elsewhere holds its ``flock`` on the file.

    HDF5 truncates a file it creates before it tries its own lock, so replacing a file
    that is open for reading would cut it under the reader; probe first (and let go:
    HDF5's own lock on our next open would conflict with ours)."""
    if fcntl is None:  # pragma: no cover
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        return exc.errno in (errno.EAGAIN, errno.EACCES)
    fcntl.flock(fd, fcntl.LOCK_UN)
    return False


class OutputLock:
    """A claimed, locked output file; ``release()`` frees it (idempotent)."""

    def __init__(self, path: str, fd: int, created: bool) -> None:
        self.path, self.fd, self.created = path, fd, created
        st = os.fstat(fd)
        self._id = (st.st_dev, st.st_ino)

    @classmethod
    def claim(cls, path: str, *, overwrite: bool) -> OutputLock:
        """Check ``path``, create or open it without truncating, and lock it.

        Raises
        ------
        OutputBusy : another writer holds the file.
        OutputExists : the file exists and ``overwrite`` is False.
        UserError : the path is a directory or not a regular file, or cannot be created.
        """
        if os.path.isdir(path):
            raise UserError(f"{path}: is a directory; give a file name such as "
                            f"{os.path.join(path, 'run.h5')}")
        if os.path.lexists(path) and not os.path.isfile(path):
            raise UserError(f"{path}: not a regular file; a recording must be written to a "
                            "regular .h5 file")
        try:
            parent = os.path.dirname(os.path.abspath(path))
            os.makedirs(parent, exist_ok=True)
        except FileExistsError:   # a file where a folder of the path should be
            raise UserError(f"{path}: cannot create recording: "
                            f"{os.strerror(errno.ENOTDIR)}") from None
        except OSError as exc:
            raise UserError(f"{path}: cannot create recording: {_reason(exc)}") from None
        flags = os.O_RDWR | getattr(os, "O_CLOEXEC", 0)
        created = True
        try:
            try:
                fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                created = False
                fd = os.open(path, flags)
        except OSError as exc:
            raise UserError(f"{path}: cannot create recording: {_reason(exc)}") from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise UserError(f"{path}: not a regular file; a recording must be written to "
                                "a regular .h5 file")
            if not _lock(fd):
                raise OutputBusy(f"{path}: another process is writing this recording; "
                                 "refusing to write it too")
            if not created and not overwrite:
                raise OutputExists(f"{path}: already exists; use --overwrite to replace it")
            if not created and _held_by_hdf5(fd):
                raise OutputBusy(f"{path}: open in another program (a replay or reader); "
                                 "close it before replacing it")
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd, created)

    @classmethod
    def check(cls, path: str, *, overwrite: bool) -> None:
        """Raise now what ``claim`` would raise (early, before a slow start); holds nothing."""
        cls.claim(path, overwrite=overwrite).release(discard=True)

    def vanished(self) -> bool:
        """True when ``path`` no longer names the locked file (deleted, or its folder)."""
        try:
            st = os.stat(self.path)
        except OSError:
            return True
        return (st.st_dev, st.st_ino) != self._id

    def release(self, *, discard: bool = False) -> None:
        """Unlock; with ``discard``, also remove a file this claim created."""
        if self.fd < 0:
            return
        if discard and self.created and not self.vanished():
            try:
                os.unlink(self.path)
            except OSError:
                pass
        try:
            os.close(self.fd)
        finally:
            self.fd = -1
