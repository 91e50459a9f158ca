"""The recorder's progress as a plain value (no h5py), so the live status path can carry it
without importing the HDF5 layer."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RecorderStats:
    """A snapshot of the recorder's progress (cheap; safe from any thread).

    Attributes
    ----------
    path : the recording file.
    rows_committed : steps flushed to disk and visible to readers.
    bytes_on_disk : current file size in bytes.
    queue_fill : 0..1, how full the queue is (1 = the engine is being held back).
    blocked_seconds_total : total time ``append`` waited for room in the queue.
    last_flush_age_s : seconds since the last flush.
    """

    path: str
    rows_committed: int
    bytes_on_disk: int
    queue_fill: float
    blocked_seconds_total: float
    last_flush_age_s: float
