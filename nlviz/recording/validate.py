"""Checks of the documented invariants of a recording, done on open before any bulk read.

Every check raises ``RecordingError`` with one line naming the file, the field (dataset
or attribute path) and the value. Lengths are compared with the bytes the file really
holds for a dataset (``backed_rows``) before anything is read, so a dataset that
declares 2**33 rows in a small file is refused instead of allocated.
"""
from __future__ import annotations

import json
import math
import zlib
from collections.abc import Callable, Mapping, Sequence

import h5py
import numpy as np

from engine.frames import RunSpec

DEFLATE_MAX_RATIO = 1032          # the most deflate (gzip) can shrink data
SLACK_BYTES = 16 << 20            # one chunk a SWMR writer may have extended but not yet written
MAX_ROW_BYTES = 1 << 30           # no single record of a recording is this large

Fail = Callable[[str], Exception]


def row_bytes(ds: h5py.Dataset) -> int:
    """Bytes of one row (first-axis entry) of ``ds``, uncompressed."""
    return max(1, ds.dtype.itemsize * math.prod(int(d) for d in ds.shape[1:]))


def backed_rows(ds: h5py.Dataset) -> int:
    """The most rows of ``ds`` the file can really hold, from its allocated storage
    (uncompressed: storage / row size; gzip: at most DEFLATE_MAX_RATIO times that), plus
    at most one chunk (up to SLACK_BYTES) that a writer may be filling."""
    rb = row_bytes(ds)
    storage = int(ds.id.get_storage_size())
    ratio = DEFLATE_MAX_RATIO if ds.compression else 1
    chunk = int(ds.chunks[0]) if ds.chunks else 0
    return (storage * ratio) // rb + min(chunk, SLACK_BYTES // rb)


def check_backed(ds: h5py.Dataset, rows: int, field: str, fail: Fail, size: int) -> None:
    """Refuse reading ``rows`` rows of ``ds`` when the file cannot hold them."""
    rb = row_bytes(ds)
    if rb > MAX_ROW_BYTES:
        raise fail(f"/{ds.name.lstrip('/')} declares rows of {rb:,} bytes (shape {ds.shape}); "
                   "no recording holds records that large")
    most = backed_rows(ds)
    if rows > most:
        raise fail(f"{field} is {rows:,} but /{ds.name.lstrip('/')} holds at most {most:,} "
                   f"rows in the file's {size:,} bytes (a damaged or hostile file)")


def _plain(value: object) -> object:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (np.ndarray, np.generic)):
        return _plain(value.tolist()) if not isinstance(value, np.bytes_) else _plain(bytes(value))
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def header_checksum(attrs: Mapping[str, object]) -> int:
    """CRC-32 of every root attribute except ``header_crc32`` itself (names and values,
    canonical JSON). Variable-length text attributes are kept in HDF5's global heap,
    which carries no checksum: this one makes a flipped byte there detectable."""
    items = {str(k): _plain(v) for k, v in attrs.items() if k != "header_crc32"}
    return zlib.crc32(json.dumps(items, sort_keys=True, default=str).encode("utf-8"))


def check_spec(spec: RunSpec, fail: Fail) -> None:
    """The run description: levels, metrics, widths and periods that the format allows."""
    where = "root attribute spec_json"
    if not spec.levels:
        raise fail(f"{where}: levels is [] (a recording has at least one level)")
    if not spec.level_metrics:
        raise fail(f"{where}: level_metrics is [] (a recording has at least one level metric)")
    names = [str(lv.name) for lv in spec.levels]
    for lv in spec.levels:
        name = lv.name
        if not isinstance(name, str) or not name or "/" in name or names.count(name) > 1:
            raise fail(f"{where}: level name {lv.name!r} is empty, not unique or contains '/'")
        if lv.update_period < 1:
            raise fail(f"{where}: levels[{lv.name}].update_period is {lv.update_period} "
                       "(must be 1 or more)")
        shape = tuple(lv.snapshot_shape)
        if len(shape) != 2 or any(int(d) < 1 for d in shape):
            raise fail(f"{where}: levels[{lv.name}].snapshot_shape is {list(shape)} "
                       "(must be two sizes of 1 or more)")
    for group, items in (("level_metrics", spec.level_metrics),
                         ("global_metrics", spec.global_metrics)):
        for m in items:
            if not isinstance(m, str) or not m or "/" in m or list(items).count(m) > 1:
                raise fail(f"{where}: {group} entry {m!r} is empty, not unique or contains '/'")
    if spec.d_in < 1:
        raise fail(f"{where}: d_in is {spec.d_in} (must be 1 or more)")
    if spec.probe_size < 0:
        raise fail(f"{where}: probe_size is {spec.probe_size} (must be 0 or more)")


def check_level_attrs(f: h5py.File, spec: RunSpec, fail: Fail) -> None:
    """``/levels/<level>`` attribute ``update_period`` agrees with the spec and is >= 1."""
    for lv in spec.levels:
        path = f"levels/{lv.name}"
        g = f[path] if path in f else None  # noqa: SIM401 - a damaged header raises, not None
        if g is None or not isinstance(g, h5py.Group):
            raise fail(f"missing group /levels/{lv.name}")
        if "update_period" in g.attrs:
            try:
                p = int(np.asarray(g.attrs["update_period"]).reshape(-1)[0])
            except (TypeError, ValueError, IndexError):
                raise fail(f"/levels/{lv.name} attribute update_period is "
                           f"{g.attrs['update_period']!r} (not an integer)") from None
            if p < 1 or p != lv.update_period:
                raise fail(f"/levels/{lv.name} attribute update_period is {p} (spec_json says "
                           f"{lv.update_period}; must be 1 or more and agree)")


def check_shape(ds: h5py.Dataset, tail: Sequence[int], fail: Fail) -> None:
    """``ds`` has shape (n, *tail)."""
    want = tuple(int(t) for t in tail)
    if ds.ndim != 1 + len(want) or tuple(ds.shape[1:]) != want:
        expected = "(n, " + ", ".join(str(t) for t in want) + ")" if want else "(n,)"
        raise fail(f"/{ds.name.lstrip('/')} has shape {ds.shape}, expected {expected}")


def check_increasing(values: np.ndarray, field: str, fail: Fail, strict: bool = True) -> None:
    """``values`` strictly (or, ``strict=False``, weakly) increasing."""
    if len(values) < 2:
        return
    d = np.diff(values)
    bad = np.flatnonzero(d <= 0 if strict else d < 0)
    if len(bad):
        i = int(bad[0]) + 1
        kind = "strictly increasing" if strict else "in step order"
        raise fail(f"{field} is not {kind}: row {i} holds {int(values[i])} after "
                   f"{int(values[i - 1])}")


__all__ = [
    "backed_rows",
    "check_backed",
    "check_increasing",
    "check_level_attrs",
    "check_shape",
    "check_spec",
    "header_checksum",
    "row_bytes",
]
