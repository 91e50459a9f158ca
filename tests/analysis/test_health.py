"""Health flags on synthetic runs built to fail one way each, and on a healthy one."""
from __future__ import annotations

import numpy as np

from nlviz.analysis.health import HealthConfig, check_health, health_config_for, initial_norms
from tests.analysis.synth import col, healthy, scal, spec


def test_a_healthy_run_is_silent() -> None:
    sp = spec()
    assert check_health(healthy(sp), sp) == []


def test_collapse_fires_from_the_first_step_below_the_fraction() -> None:
    sp = spec()
    v = healthy(sp)
    w = col(sp, v, "cms2", "weight_norm")
    w[:] = 2.0 * 0.99 ** np.arange(len(w))
    # independent: first t with 2 * 0.99**t < 0.05 * 2, i.e. 0.99**t < 0.05
    t = next(t for t in range(len(w)) if 0.99 ** t < 0.05)
    flags = check_health(v, sp, HealthConfig(collapse_frac=0.05))
    assert [(f.kind, f.level, f.since_step) for f in flags] == [("collapse", "cms2", 1000 + t)]
    # a recovery before the end clears it
    w[-5:] = 2.0
    assert check_health(v, sp) == []


def test_collapse_compares_with_the_runs_start_when_the_view_has_lost_it() -> None:
    # a live ring buffer holds only the newest steps: the run started at norm 2.0, the view
    # starts at 0.06 (already decayed) and ends at 0.05
    sp = spec()
    start = healthy(sp)
    norms = initial_norms(start, sp)
    assert norms is not None and norms[sp.level_names.index("cms2")] == col(
        sp, start, "cms2", "weight_norm")[0]
    later = healthy(sp, first_step=90_000)
    col(sp, later, "cms2", "weight_norm")[:] = np.linspace(0.06, 0.05, len(later.step))
    cms2 = sp.level_names.index("cms2")
    assert check_health(later, sp) == []                     # against its own first row
    given = tuple(2.0 if i == cms2 else n for i, n in enumerate(norms))
    flags = check_health(later, sp, HealthConfig(collapse_frac=0.05), start_norms=given)
    assert [(f.kind, f.level, f.since_step) for f in flags] == [("collapse", "cms2", 90_000)]


def test_constant_titans_gate_fires_once_for_the_shared_gate_since_the_window_start() -> None:
    sp = spec()
    v = healthy(sp)
    for name in ("memory", "k", "v", "eta", "alpha"):
        col(sp, v, name, "retention")[600:] = 0.999
    flags = check_health(v, sp, HealthConfig(gate_window=500, gate_tol=1e-4))
    # independent: every window of 500 rows with np.std; the earliest start of the final
    # unbroken run (a window holding one old value can already pass: 1/sqrt(500) of it)
    x = col(sp, v, "memory", "retention").astype(np.float64)
    ok = [np.std(x[k:k + 500]) < 1e-4 * abs(np.mean(x[k:k + 500])) for k in range(1001)]
    k0 = next(k for k in range(1001) if all(ok[k:]))
    assert 590 <= k0 <= 600
    assert len(flags) == 1
    f = flags[0]
    assert (f.kind, f.level, f.since_step) == ("constant_gate", "memory", 1000 + k0)
    assert "retention" in f.detail and "alpha" in f.detail
    # fixed gates are constant on purpose
    assert check_health(v, sp, health_config_for({"model": {"titans": {"gates": "fixed"}}})) == []
    # tiny but real variation (relative std 1e-3) is not constant
    rng = np.random.default_rng(1)
    for name in ("memory", "k", "v", "eta", "alpha"):
        col(sp, v, name, "retention")[600:] = 0.999 * (1 + 1e-3 * rng.standard_normal(900))
    assert check_health(v, sp) == []


def test_nan_counts_real_faults_not_columns_nan_by_definition() -> None:
    sp = spec()
    v = healthy(sp)
    col(sp, v, "cms1", "weight_norm")[:] = np.nan       # an old file without the column
    scal(sp, v, "oracle_loss")[:] = np.nan              # a stream without an oracle
    assert check_health(v, sp) == []
    col(sp, v, "memory", "surprise")[700] = np.nan
    col(sp, v, "memory", "lr")[900:] = np.inf
    scal(sp, v, "outer_loss")[1200:] = np.nan
    flags = check_health(v, sp)
    got = [(f.kind, f.level, f.since_step) for f in flags]
    assert got == [("nan", "memory", 1700), ("nan", None, 2200)]
    assert flags[0].detail == "non-finite surprise, lr"


def test_worse_than_copy_fires_from_the_first_window_above_copy() -> None:
    sp = spec()
    v = healthy(sp)
    loss, copy = scal(sp, v, "outer_loss"), scal(sp, v, "copy_loss")
    loss[:] = 1.0
    loss[400:] = 3.0
    copy[:] = 2.0
    # independent: trailing means over 100 rows
    first = next(i for i in range(len(loss)) if loss[max(0, i - 99):i + 1].mean() > 2.0)
    flags = check_health(v, sp, HealthConfig(loss_window=100))
    assert [(f.kind, f.since_step) for f in flags] == [("worse_than_copy", 1000 + first)]
    assert first == 450
    copy[:] = 0.0                                         # reconstruction: copying is exact
    assert check_health(v, sp, HealthConfig(loss_window=100)) == []
