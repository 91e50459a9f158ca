"""Test helpers: a copy of a recording with Fletcher-32 on every chunked dataset (what the
writer stores), and the byte positions of its chunks and metadata for damage tests."""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from nlviz.recording import layout as L
from nlviz.recording.validate import header_checksum


def checksum_copy(src: str | Path, dst: str | Path, chunk_rows: int | None = None) -> Path:
    """Copy ``src`` to ``dst`` re-creating every chunked dataset with ``fletcher32=True``
    (same dtype, shape, filters; 1-D per-step series re-chunked to ``chunk_rows`` rows
    when given, so a small file has several chunks). Adds the header checksum."""
    with h5py.File(src, "r") as fi, h5py.File(dst, "w", libver="latest") as fo:
        for k, v in fi.attrs.items():
            fo.attrs[k] = v

        def visit(name: str, obj: object) -> None:
            if isinstance(obj, h5py.Group):
                g = fo.require_group(name)
                for k, v in obj.attrs.items():
                    g.attrs[k] = v
                return
            assert isinstance(obj, h5py.Dataset)
            kw: dict = {}
            if obj.chunks:
                chunks = obj.chunks
                if chunk_rows and obj.ndim == 1 and chunks[0] == L.ROW_CHUNK:
                    chunks = (chunk_rows,)
                kw = dict(chunks=chunks, maxshape=obj.maxshape, compression=obj.compression,
                          compression_opts=obj.compression_opts, shuffle=obj.shuffle,
                          fletcher32=True)
            ds = fo.create_dataset(name, data=obj[()], dtype=obj.dtype, **kw)
            for k, v in obj.attrs.items():
                ds.attrs[k] = v
        fi.visititems(visit)
        fo.attrs[L.A_HEADER_CRC] = header_checksum(fo.attrs)
    return Path(dst)


def chunk_span(path: str | Path, dataset: str, row: int) -> tuple[int, int, int]:
    """(byte offset, size in bytes, first row) of the stored chunk holding ``row``."""
    with h5py.File(path, "r") as f:
        ds = f[dataset]
        info = ds.id.get_chunk_info_by_coord((row // ds.chunks[0] * ds.chunks[0],
                                              *([0] * (ds.ndim - 1))))
        return int(info.byte_offset), int(info.size), int(info.chunk_offset[0])


def flip(path: str | Path, offset: int, bit: int = 0) -> None:
    """XOR one bit of the byte at ``offset`` (negative: from the end)."""
    data = bytearray(Path(path).read_bytes())
    data[offset] ^= 1 << bit
    Path(path).write_bytes(bytes(data))


def same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal arrays, NaN equal to NaN."""
    return a.shape == b.shape and bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))
