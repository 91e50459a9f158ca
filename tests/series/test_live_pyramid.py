"""The live min/max pyramid: a summary of any held range equals a brute-force min/max
over the same buckets of the same rows, across ring wrap-around, batch splits (pushes
larger than the margin), NaN and a smoothing change."""
from __future__ import annotations

import itertools

import numpy as np

from nlviz.series.live_pyramid import LivePyramid
from nlviz.series.ring import RunBuffers


def _spec():
    from bench.gui import synthetic_spec
    return synthetic_spec(3)


def _brute(rows: dict[str, np.ndarray], lo: int, hi: int, b: int):
    """Buckets of ``b`` rows aligned to row index 0 clipped to [lo, hi): (min, max, first)
    per column, by a plain loop."""
    edges = [lo] + [e for e in range((lo // b + 1) * b, hi, b)] + [hi]
    mn, mx, first = {}, {}, {"step": [], "regime": []}
    for c in ("level", "smooth", "scalars", "fired"):
        lo_list, hi_list = [], []
        for a, z in itertools.pairwise(edges):
            seg = rows[c][..., a:z].astype(np.float64)
            with np.errstate(all="ignore"), _Quiet():   # all-NaN buckets: NaN
                lo_list.append(np.nanmin(seg, -1) if c != "fired" else seg.max(-1))
                hi_list.append(np.nanmax(seg, -1) if c != "fired" else seg.max(-1))
        mn[c], mx[c] = np.stack(lo_list, -1), np.stack(hi_list, -1)
    for a in edges[:-1]:
        first["step"].append(rows["step"][a])
        first["regime"].append(rows["regime"][a])
    return mn, mx, first


class _Quiet:
    def __enter__(self):
        import warnings
        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *a):
        self._w.__exit__(*a)


def _push_random(buf: RunBuffers, total: int, rng: np.random.Generator) -> dict:
    """Push ``total`` rows in random batch sizes (some above the margin); NaN here and
    there, an all-NaN column stretch; return every row pushed (as the ring lays them out)."""
    from bench.gui import synthetic_batch
    spec = buf.spec
    kept: dict[str, list[np.ndarray]] = {c: [] for c in
                                         ("level", "scalars", "fired", "step", "regime")}
    s = 0
    while s < total:
        n = int(min(total - s, rng.choice([1, 3, 7, 64, 200, 500])))
        b = synthetic_batch(spec, s, n, rng)
        b.level[rng.random(b.level.shape) < 0.01] = np.nan
        if 3000 <= s < 3200:
            b.level[:, 1, 2] = np.nan                        # a whole stretch of NaN
        b.regime[:] = rng.integers(0, 3, n)
        buf.push(b)
        kept["level"].append(b.level.transpose(1, 2, 0))
        kept["scalars"].append(b.scalars.T)
        kept["fired"].append(b.fired.T)
        kept["step"].append(b.step.astype(np.float64))
        kept["regime"].append(b.regime)
        s += n
    return {c: np.concatenate(v, -1) for c, v in kept.items()}


def _check(buf: RunBuffers, rows: dict, lo_step: int | None, hi_step: int | None,
           max_rows: int) -> None:
    exact = buf.history(lo_step, hi_step)                  # the same range, exact rows
    view = buf.history(lo_step, hi_step, max_rows=max_rows)
    n = len(exact.step)
    if n <= max(2, max_rows):
        assert view.bucket_rows == 1 and len(view.step) == n
        return
    assert view.is_summary and len(view.step) <= max_rows
    total = buf.total
    lo = total - min(total, buf.capacity) + int(np.searchsorted(
        buf.latest().step, exact.step[0]))
    hi = lo + n
    all_rows = {**rows, "smooth": np.full_like(rows["level"], np.nan)}
    all_rows["smooth"][..., total - len(buf.latest().step):] = buf.latest().smooth
    mn, mx, first = _brute(all_rows, lo, hi, view.bucket_rows)
    np.testing.assert_array_equal(view.step[0::2], first["step"])
    np.testing.assert_array_equal(view.step[1::2], first["step"])
    np.testing.assert_array_equal(view.regime[0::2], first["regime"])
    np.testing.assert_array_equal(view.fired[:, 0::2], mx["fired"])
    for c, got in (("level", view.level), ("smooth", view.smooth), ("scalars", view.scalars)):
        np.testing.assert_array_equal(got[..., 0::2], mn[c].astype(np.float32), err_msg=c)
        np.testing.assert_array_equal(got[..., 1::2], mx[c].astype(np.float32), err_msg=c)


def test_summaries_equal_brute_force_across_wrap_around():
    rng = np.random.default_rng(7)
    buf = RunBuffers(_spec(), capacity=2000, margin=300)
    buf.smoothing = 0.9
    rows = _push_random(buf, 1500, rng)                    # not wrapped yet
    _check(buf, rows, None, None, 100)
    rows = _push_random_more(buf, rows, 9000, rng)          # wrapped several times
    assert buf.total == 10_500 and buf._ring.count > buf._ring.size * 3
    span = buf.span()
    assert span is not None and span == (8500, 10_499)
    for lo_step, hi_step, max_rows in ((None, None, 100), (None, None, 64), (8500, 10_499, 40),
                                       (8601, 9999, 500), (9013, 9100, 30), (9000, 9001, 1),
                                       (8700, None, 17), (None, None, 16), (8500, 10_499, 5000)):
        _check(buf, rows, lo_step, hi_step, max_rows)
    buf.set_smoothing(0.5)                                 # rebuilt from the ring
    _check(buf, rows, None, None, 100)
    _check(buf, rows, 8877, 10_400, 60)
    rows = _push_random_more(buf, rows, 777, rng)
    _check(buf, rows, None, None, 100)
    _check(buf, rows, 9300, None, 250)


def _push_random_more(buf: RunBuffers, rows: dict, n: int, rng: np.random.Generator) -> dict:
    start = buf.total
    from bench.gui import synthetic_batch
    new: dict[str, list[np.ndarray]] = {c: [rows[c]] for c in rows}
    s = start
    while s < start + n:
        k = int(min(start + n - s, rng.choice([1, 5, 64, 333, 400])))
        b = synthetic_batch(buf.spec, s, k, rng)
        b.level[rng.random(b.level.shape) < 0.01] = np.nan
        b.regime[:] = rng.integers(0, 3, k)
        buf.push(b)
        new["level"].append(b.level.transpose(1, 2, 0))
        new["scalars"].append(b.scalars.T)
        new["fired"].append(b.fired.T)
        new["step"].append(b.step.astype(np.float64))
        new["regime"].append(b.regime)
        s += k
    return {c: np.concatenate(v, -1) for c, v in new.items()}


def test_levels_are_powers_of_two_and_the_work_per_row_is_bounded():
    p = LivePyramid(100_000 + 32_768, {"level": (4, 10), "smooth": (4, 10), "scalars": (5,),
                                       "fired": (4,)})
    sizes = [lv.rows for lv in p.levels]
    assert sizes[0] == 8 and all(b == 2 * a for a, b in itertools.pairwise(sizes))
    assert (100_000 + 32_768) // sizes[-1] >= 4
    # bucket slots over all levels: under 2 per 8 rows -> O(1) stored values per row
    assert sum(lv.nb for lv in p.levels) < 2 * (100_000 + 32_768) // 8 + 2 * len(sizes)
