"""What every part of ``Recording`` stands on: the open file, one-line refusals naming
the file, and damage-aware reads (chunks that fail their checksum read as NaN / -1 / 0
and are noted in ``damaged``). Nothing outside ``nlviz.recording`` uses this module.
"""
from __future__ import annotations

from typing import Any, TypeVar

import h5py
import numpy as np

from nlviz.errors import UserError
from nlviz.recording.damage import Damage, read_rows
from nlviz.recording.layout import D_CLEAN_CLOSE, D_ROWS_COMMITTED


class RecordingError(UserError):
    """A recording that cannot be read; the message names the file and the problem."""


_R = TypeVar("_R", bound="RecordingBase")


class RecordingBase:
    """The open file and its damage bookkeeping (``Recording`` sets every attribute)."""

    path: str
    _f: h5py.File
    _size: int
    _steps: np.ndarray | None
    damaged: list[Damage]
    n_rows: int
    complete: bool

    @property
    def steps(self) -> np.ndarray:
        """(n_rows,) int64 global step of every recorded row (``Recording.steps``)."""
        raise NotImplementedError

    def close(self) -> None:
        """Close the file."""
        self._f.close()

    def __enter__(self: _R) -> _R:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _fail(self, problem: str) -> RecordingError:
        return RecordingError(f"{self.path}: {problem}")

    def _dataset(self, path: str, kind: str) -> h5py.Dataset:
        obj = _get(self._f, path)
        if obj is None or not isinstance(obj, h5py.Dataset):
            raise self._fail(f"missing dataset /{path}")
        if obj.dtype.kind not in kind:
            want = {'i': 'integer', 'f': 'float', 'u': 'uint8', 'S': 'bytes'}.get(kind, kind)
            raise self._fail(f"/{path} has dtype {obj.dtype}, expected {want}")
        return obj

    def _committed(self) -> int:
        """Rows committed (``/status/rows_committed``); sets ``complete`` from
        ``/status/clean_close``. The same status group in run and training recordings."""
        rows, clean = D_ROWS_COMMITTED, D_CLEAN_CLOSE
        rc = self._dataset(rows, "i")
        cc = self._dataset(clean, "u")
        for ds in (rc, cc):
            ds.refresh()
            if ds.shape != (1,):
                raise self._fail(f"/{ds.name.lstrip('/')} has shape {ds.shape}, expected (1,)")
        flag = int(cc[0])
        if flag not in (0, 1):
            raise self._fail(f"/{clean} is {flag} (must be 0 or 1)")
        self.complete = flag == 1
        n = int(rc[0])
        if n < 0:
            raise self._fail(f"/{rows} is {n} (must be 0 or more)")
        return n

    # ---- damage-aware reads ---------------------------------------------------------------
    def _note(self, path: str, bad: list[tuple[int, int]], steps_known: bool = True) -> None:
        for a, b in bad:
            first = last = None
            if steps_known and self._steps is not None and b <= len(self._steps):
                first, last = int(self._steps[a]), int(self._steps[b - 1])
            self._add(Damage(path, a, b, first, last))

    def _add(self, d: Damage) -> None:
        """Record ``d`` once; rows adjacent to or inside an entry of the same dataset join it."""
        for k, x in enumerate(self.damaged):
            if x.path == d.path and d.row_lo <= x.row_hi and d.row_hi >= x.row_lo:
                lo, hi = min(x.row_lo, d.row_lo), max(x.row_hi, d.row_hi)
                first = x.first_step if x.row_lo <= d.row_lo else d.first_step
                last = x.last_step if x.row_hi >= d.row_hi else d.last_step
                self.damaged[k] = Damage(x.path, lo, hi, first, last)
                return
        self.damaged.append(d)

    def _read(self, path: str, lo: int, hi: int) -> np.ndarray:
        """Rows [lo, hi) of a per-step dataset (clamped to ``n_rows``); rows of a chunk that
        fails its checksum come back as NaN / -1 / 0 and are added to ``damaged``."""
        lo, hi = max(0, int(lo)), min(int(hi), self.n_rows)
        out, bad = read_rows(self._f[path], lo, max(lo, hi))
        if bad:
            self.steps  # noqa: B018 - the step range of the damage needs the index
            self._note(path, [(a, b) for a, b in bad])
        return out


def _get(f: h5py.File, path: str) -> Any:
    """``f[path]``, or None when it does not exist; a damaged link or object header raises
    (KeyError / OSError naming the checksum failure) instead of reading as missing."""
    try:
        return f[path]
    except KeyError as exc:
        if any(s in str(exc) for s in ("doesn't exist", "does not exist", "component not found")):
            return None
        raise


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.shape == ():
        return _text(value.item())
    return str(value)
