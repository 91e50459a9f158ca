"""Visit numbers that hold for the whole run, whatever part of it a view shows.

``regime_spans`` numbers visits from the first row it is given. A live ring buffer drops
its oldest rows and a replay window starts mid-run, so numbering each view on its own
turns "B #5" into "B #1". ``VisitRegister`` remembers every span it has seen (from the
history up to the cursor, and from each frame), and renumbers a view's spans with the
run's visits: a span overlapping a known one of the same regime takes its visit; a new one
gets one more than the known spans of its regime that start before it.
"""
from __future__ import annotations

import bisect
from dataclasses import replace

from nlviz.analysis.switches import Span


class VisitRegister:
    """Per regime, the known spans ``(start, stop, visit)`` sorted by start."""

    def __init__(self) -> None:
        self.known: dict[int, list[tuple[int, int, int]]] = {}

    def clear(self) -> None:
        """A new run: forget every span."""
        self.known = {}

    def learn(self, spans: list[Span]) -> None:
        """Take ``spans`` (numbered from the run's first row) as the truth."""
        self.clear()
        for sp in spans:
            self.known.setdefault(sp.regime, []).append((sp.start, sp.stop, sp.visit))

    def number(self, spans: list[Span]) -> list[Span]:
        """``spans`` of a view with the run's visit numbers (new spans are remembered)."""
        out = []
        for sp in spans:
            rows = self.known.setdefault(sp.regime, [])
            i = bisect.bisect_right(rows, (sp.stop, 1 << 62, 0))     # rows starting <= stop
            if i and rows[i - 1][1] >= sp.start:                     # overlaps a known span
                start, stop, visit = rows[i - 1]
                if sp.stop > stop:                                   # it grew (live)
                    rows[i - 1] = (start, sp.stop, visit)
            else:
                visit = i + 1                                        # i known spans before it
                rows.insert(i, (sp.start, sp.stop, visit))
                for j in range(i + 1, len(rows)):                    # (only if found late)
                    s, e, v = rows[j]
                    rows[j] = (s, e, v + 1)
            out.append(sp if sp.visit == visit else replace(sp, visit=visit))
        return out


__all__ = ["VisitRegister"]
