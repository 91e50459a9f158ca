"""Byte-level side of checkpoints: a repeatable zip of ``.npy`` arrays, an atomic write,
and a pickle-free read of one ``.npy`` member.

Every failure is raised as ``NpyError`` (a ``ValueError``) with the problem in a few
words; ``engine.checkpoint`` adds the file and the tensor.
"""
from __future__ import annotations

import io
import math
import os
import tempfile
import zipfile
import zlib

import numpy as np

MAX_MEMBER_BYTES = 1 << 31            # no array of a checkpoint is this large (zip bombs)
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)     # fixed time stamp: equal content, equal bytes


class NpyError(ValueError):
    """A member that cannot be read as a plain array; the message says why (one line)."""


def zip_arrays(arrays: dict[str, np.ndarray]) -> bytes:
    """A deflated zip with one ``.npy`` member per entry of ``arrays`` (key = member
    name), in name order with a fixed time stamp: the same arrays give the same bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for member in sorted(arrays):
            info = zipfile.ZipInfo(member, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            with zf.open(info, "w", force_zip64=True) as out:
                np.lib.format.write_array(out, arrays[member], allow_pickle=False)
    return buf.getvalue()


def write_atomic(path: str, payload: bytes) -> None:
    """Write ``payload`` to ``path`` through a temporary file in the same directory,
    fsync'ed and renamed over ``path``: ``path`` holds the old bytes or the new ones,
    never a part, and no temporary file is left behind.

    Raises
    ------
    OSError : the directory is not writable, the disk is full, the rename failed.
    """
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)   # a checkpoint is for sharing: not mkstemp's 0600
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(folder)


def _fsync_dir(folder: str) -> None:
    """Make the rename durable where directories can be fsync'ed (not on Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_npy(zf: zipfile.ZipFile, member: str) -> np.ndarray:
    """One ``.npy`` member as a writable, C-ordered, native-byte-order array.

    Never unpickles: the header is parsed, object dtypes are refused and the shape is
    checked against the bytes stored before the array is built. The member's zip CRC-32
    is checked (the whole member is read).

    Raises
    ------
    NpyError : damaged (CRC, deflate), too large, not an array, an object array, or a
        shape that does not match the bytes.
    """
    info = zf.getinfo(member)
    if info.file_size > MAX_MEMBER_BYTES:
        raise NpyError(f"declares {info.file_size:,} bytes (at most {MAX_MEMBER_BYTES:,})")
    try:
        raw = zf.read(member)                                 # checks the member's CRC-32
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError,
            NotImplementedError) as exc:
        raise NpyError(f"is damaged ({_one_line(exc)})") from None
    fp = io.BytesIO(raw)
    try:
        major, _minor = np.lib.format.read_magic(fp)
        read_header = (np.lib.format.read_array_header_1_0 if major == 1
                       else np.lib.format.read_array_header_2_0)
        shape, fortran, dtype = read_header(fp)
    except (ValueError, SyntaxError, TypeError, EOFError) as exc:
        raise NpyError(f"is not a readable array ({_one_line(exc)})") from None
    if dtype.hasobject:
        raise NpyError("is an object array (refused: loading it would need pickle)")
    count = math.prod(shape)
    body = len(raw) - fp.tell()
    if count * dtype.itemsize != body:
        raise NpyError(f"has shape {tuple(shape)} of {dtype} ({count * dtype.itemsize:,} "
                         f"bytes) but holds {body:,} bytes")
    arr = np.frombuffer(raw, dtype, count, fp.tell())
    arr = arr.reshape(shape[::-1]).T if fortran else arr.reshape(shape)
    return np.array(arr, dtype.newbyteorder("="), order="C")   # a writable copy


def _one_line(exc: BaseException) -> str:
    """The exception as one line (engine/ cannot import nlviz.errors.one_line)."""
    return " ".join(str(exc).split())[:300] or type(exc).__name__


__all__ = ["MAX_MEMBER_BYTES", "NpyError", "read_npy", "write_atomic", "zip_arrays"]
