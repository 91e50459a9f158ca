"""Reading the files behind the ``file`` (.npy) and ``text`` streams, refusing bad ones.

Every problem is a ``ConfigError`` of one line that names ``stream.path``, the file and
the value at fault: a missing or unreadable path, a directory, a FIFO, socket or device
(refused before it is read, so nothing blocks), an empty, corrupt or truncated file, an
array of the wrong shape, width or dtype (complex values are refused, not cut to their
real part), a NaN or inf (with its row), or a file that would not fit in memory.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

import numpy as np

from engine.budget import format_bytes, host_available_memory
from engine.config import ConfigError

KEY = "stream.path"
_READ_CHUNK = 1 << 22           # bytes read and converted at a time (bounded extra memory)
_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"))


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _kind(mode: int) -> str | None:
    """What a non-regular file is, or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def open_regular_file(path: Path, key: str = KEY) -> BinaryIO:
    """Open ``path`` for reading if it is a regular file; never blocks on a FIFO or device.

    The type is checked before opening and again on the open descriptor (O_NONBLOCK, so a
    FIFO swapped in between cannot block either).
    """
    try:
        kind = _kind(os.stat(path).st_mode)
    except OSError as exc:
        raise ConfigError(f"{key}: {path}: {_one_line(exc.strerror or exc)}") from None
    if kind is not None:
        raise ConfigError(f"{key}: {path} is {kind}, not a regular file")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise ConfigError(f"{key}: cannot open {path}: {_one_line(exc.strerror or exc)}") \
            from None
    kind = _kind(os.fstat(fd).st_mode)
    if kind is not None:
        os.close(fd)
        raise ConfigError(f"{key}: {path} is {kind}, not a regular file")
    return os.fdopen(fd, "rb")


def check_room(path: Path, need: int, what: str, key: str = KEY) -> None:
    """Refuse a file whose data (``need`` bytes once loaded) would not fit in memory."""
    avail = host_available_memory()
    if avail is not None and need > avail:
        raise ConfigError(f"{key}: {path} holds {what}: loading it needs about "
                          f"{format_bytes(need)}, more than the {format_bytes(avail)} available")


def read_exactly(f: BinaryIO, n: int, path: Path, key: str = KEY) -> bytes:
    """``n`` bytes from ``f``; a file that ends sooner (or cannot be read) is refused."""
    try:
        data = f.read(n)
    except OSError as exc:
        raise ConfigError(f"{key}: cannot read {path}: {_one_line(exc.strerror or exc)}") \
            from None
    if len(data) != n:
        raise ConfigError(f"{key}: {path} ended after {len(data):,} of {n:,} bytes (truncated "
                          "or changed while being read)")
    return data


def _read_header(f: BinaryIO, path: Path) -> tuple[tuple[int, ...], bool, np.dtype]:
    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        if version == (1, 0):
            return fmt.read_array_header_1_0(f)
        if version == (2, 0):
            return fmt.read_array_header_2_0(f)
        # 3.0 (utf-8 header): no public reader, and numpy's stubs omit the private one
        return fmt._read_array_header(f, version)  # type: ignore[attr-defined]
    except Exception as exc:  # noqa: BLE001 - any parse failure is a corrupt header
        arg = exc.args[0] if exc.args and isinstance(exc.args[0], str) else exc
        reason = _one_line(arg) or type(exc).__name__
        raise ConfigError(f"{KEY}: {path} is not a valid .npy file ({reason[:200]})") from None


def load_npy_rows(path: Path, dim: int) -> np.ndarray:
    """The rows of a (T, dim) real-valued .npy file as float32, every value finite."""
    with open_regular_file(path) as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            raise ConfigError(f"{KEY}: {path} is empty (0 bytes), not a .npy file")
        shape, fortran, dtype = _read_header(f, path)
        if dtype.hasobject or dtype.kind not in "iuf":
            what = "complex: the imaginary part would be lost" if dtype.kind == "c" else \
                "expected real numbers (integer or float)"
            raise ConfigError(f"{KEY}: {path} has dtype {dtype}, {what}")
        if len(shape) != 2:
            raise ConfigError(f"{KEY}: {path} has shape {shape}, expected (T, {dim})")
        rows, width = shape
        if width != dim:
            raise ConfigError(f"{KEY}: {path} has width {width}, but model.d_in is {dim}")
        if rows == 0:
            raise ConfigError(f"{KEY}: {path} has no rows (shape {shape})")
        nbytes = rows * width * dtype.itemsize
        have = size - f.tell()
        if have < nbytes:
            raise ConfigError(f"{KEY}: {path} is truncated: its header declares shape {shape} "
                              f"({nbytes:,} bytes of data) but {have:,} bytes follow it")
        need = rows * width * 4 + (nbytes if fortran else 0)
        check_room(path, need, f"{rows:,} rows x {width}")
        out = np.empty((rows, width), np.float32)
        if fortran:  # column-major on disk: read whole, then convert
            raw = np.frombuffer(read_exactly(f, nbytes, path), dtype).reshape(shape, order="F")
            _convert(raw, out, 0, path)
        else:
            step = max(1, _READ_CHUNK // max(1, width * dtype.itemsize))
            for r0 in range(0, rows, step):
                n = min(step, rows - r0)
                raw = np.frombuffer(read_exactly(f, n * width * dtype.itemsize, path), dtype)
                _convert(raw.reshape(n, width), out[r0:r0 + n], r0, path)
    return out


def _convert(raw: np.ndarray, out: np.ndarray, row0: int, path: Path) -> None:
    """``out[:] = raw`` as float32; the first NaN / inf (or value too large for float32)
    is refused with its row and column."""
    with np.errstate(over="ignore", invalid="ignore"):
        out[...] = raw
    bad = ~np.isfinite(out)
    if bad.any():
        r, c = (int(v) for v in np.argwhere(bad)[0])
        value = raw[r, c]
        why = "" if not np.isfinite(value) else " (too large for float32)"
        raise ConfigError(f"{KEY}: {path} row {row0 + r}, column {c} is {float(value)!r}{why}; "
                          "NaN and inf are not allowed")
