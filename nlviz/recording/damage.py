"""Reading rows of a dataset when some of its chunks fail their checksum.

The writer stores every chunked dataset with the Fletcher-32 filter; a chunk whose bytes
changed on disk then fails to read (h5py raises ``OSError``: "filter returned failure
during read"). A damaged block of the dataset's chunk index fails the same way. ``read_rows``
reads a row range in one call and, only when that fails, chunk by chunk: readable chunks
come back exactly, damaged ones are filled (NaN for floats) and returned as row ranges.
Files written without checksums read exactly as before (their damage goes unnoticed).
"""
from __future__ import annotations

from dataclasses import dataclass

import h5py
import numpy as np

READ_ERRORS = (OSError, RuntimeError)   # what h5py raises on bad bytes


@dataclass(frozen=True)
class Damage:
    """Rows of one dataset that could not be read (checksum or index failure).

    Attributes
    ----------
    path : dataset path without the leading ``/``.
    row_lo, row_hi : rows [row_lo, row_hi) of that dataset.
    first_step, last_step : recorded steps the rows cover (per-step datasets and sparse
        records whose step index is readable), else None.
    """

    path: str
    row_lo: int
    row_hi: int
    first_step: int | None = None
    last_step: int | None = None

    def describe(self) -> str:
        """``"/levels/L0/surprise steps 4096..8191"`` (rows when the steps are unknown)."""
        if self.first_step is not None and self.last_step is not None:
            where = f"steps {self.first_step}..{self.last_step}"
        else:
            where = f"rows {self.row_lo}..{self.row_hi - 1}"
        return f"/{self.path} {where}"


def fill_value(dtype: np.dtype) -> object:
    """What a damaged row holds: NaN for floats, -1 for signed ints, 0 otherwise."""
    if dtype.kind == "f":
        return np.nan
    if dtype.kind == "i":
        return -1
    if dtype.kind == "S":
        return b""
    return 0


def read_rows(ds: h5py.Dataset, lo: int, hi: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Rows [lo, hi) of ``ds`` and the row ranges that could not be read (filled)."""
    lo, hi = int(lo), max(int(lo), int(hi))
    try:
        return ds[lo:hi], []
    except READ_ERRORS:
        pass
    out = np.empty((hi - lo, *ds.shape[1:]), ds.dtype)
    step = int(ds.chunks[0]) if ds.chunks else max(1, hi - lo)
    bad: list[tuple[int, int]] = []
    a = lo
    while a < hi:
        b = min(hi, (a // step + 1) * step)
        try:
            out[a - lo:b - lo] = ds[a:b]
        except READ_ERRORS:
            out[a - lo:b - lo] = fill_value(ds.dtype)
            if bad and bad[-1][1] == a:
                bad[-1] = (bad[-1][0], b)
            else:
                bad.append((a, b))
        a = b
    return out, bad


__all__ = ["READ_ERRORS", "Damage", "fill_value", "read_rows"]
