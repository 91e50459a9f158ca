"""Event payloads of schema 1.2+: JSON texts stored back to back in ``/events/data``
(uint8), event ``i`` ending at byte ``/events/data_end[i]`` and starting where event
``i - 1`` ended (or at 0). Decoding only; ``filewriter.payload_bytes`` encodes.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np

Fail = Callable[[str], Exception]


def check_ends(ends: np.ndarray, stored: int, path: str, fail: Fail) -> None:
    """Offsets non-negative and non-decreasing, the last within the ``stored`` bytes.

    Raises ``fail(...)`` naming ``path``, the row and the value otherwise."""
    if len(ends) == 0:
        return
    if int(ends[0]) < 0:
        raise fail(f"/{path} is {int(ends[0])} at row 0 (byte offsets are 0 or more)")
    back = np.flatnonzero(np.diff(ends) < 0)
    if len(back):
        i = int(back[0]) + 1
        raise fail(f"/{path} goes back from {int(ends[i - 1])} to {int(ends[i])} at row {i} "
                   "(payload end offsets never decrease)")
    if int(ends[-1]) > stored:
        raise fail(f"/{path} is {int(ends[-1])} at row {len(ends) - 1}, past the "
                   f"{stored} bytes stored")


def spans(ends: np.ndarray, readable: np.ndarray) -> np.ndarray:
    """(E, 2) [start, end) byte range of each payload; -1 where unknown (its own or the
    previous offset is unreadable)."""
    out = np.full((len(ends), 2), -1, np.int64)
    if len(ends):
        prev = np.concatenate([[0], ends[:-1]])
        known = readable & np.concatenate([[True], readable[:-1]])
        out[known, 0], out[known, 1] = prev[known], ends[known]
    return out


def decode(blob: np.ndarray, ranges: np.ndarray, bad: list[tuple[int, int]]
           ) -> tuple[list[dict[str, Any] | None], list[int]]:
    """The payload of every event and the indices of those whose bytes are damaged.

    ``blob`` holds the stored bytes from 0; ``ranges`` comes from ``spans``; ``bad``
    lists byte ranges that failed their checksum. A payload with an unknown or
    impossible range (not written yet, offsets out of order), overlapping a damaged
    range, or that is not a JSON object with a ``"kind"`` (``null`` included) decodes
    as None."""
    out: list[dict[str, Any] | None] = []
    damaged: list[int] = []
    raw = blob.tobytes()
    for i, (start, end) in enumerate(ranges.tolist()):
        if start < 0 or end < start or end > len(raw):
            out.append(None)
        elif any(a < end and b > start for a, b in bad):
            out.append(None)
            damaged.append(i)
        else:
            out.append(_parse(raw[start:end]))
    return out, damaged


def _parse(data: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) and isinstance(value.get("kind"), str) else None


__all__ = ["check_ends", "decode", "spans"]
