"""summarize_run on a synthetic run: every number against a direct computation."""
from __future__ import annotations

import numpy as np
import pytest

from engine.frames import EvalRecord
from nlviz.analysis.summary import ReportOptions, group_numbers, summarize_run
from tests.analysis.synth import col, healthy, scal, spec


def test_summary_numbers() -> None:
    sp = spec()
    v = healthy(sp, n=1500, first_step=0)               # regimes switch every 300 rows
    loss, copy = scal(sp, v, "outer_loss"), scal(sp, v, "copy_loss")
    drift = col(sp, v, "cms1", "drift_init")
    drift[:] = np.linspace(0.0, 0.3, 1500)
    evals = [EvalRecord(299, np.array([0.2, 1.0], np.float32), np.ones(2, np.float32)),
             EvalRecord(599, np.array([0.6, 0.3], np.float32), np.ones(2, np.float32)),
             EvalRecord(950, np.array([0.45, 0.35], np.float32), np.ones(2, np.float32)),
             EvalRecord(1199, np.array([0.5, 0.4], np.float32), np.ones(2, np.float32)),
             EvalRecord(1199, np.array([9.0, 9.0], np.float32), np.ones(2, np.float32),
                        "knockout:memory")]
    opts = ReportOptions(last=100, before=50, early=20, smooth=10, tol=0.1)
    s = summarize_run(v, sp, evals, opts)
    n = s.numbers
    assert n["final.outer_loss"] == pytest.approx(loss[-100:].mean(dtype=np.float64))
    assert n["ratio.copy"] == pytest.approx(loss[-100:].mean(dtype=np.float64)
                                            / copy[-100:].mean(dtype=np.float64))
    assert n["final.oracle_loss"] == pytest.approx(0.01)
    # switches at 300 (B, 1st), 600 (A, 2nd), 900 (B, 2nd), 1200 (A, 3rd)
    assert (n["recovery.first.switches"], n["recovery.second.switches"],
            n["recovery.later.switches"]) == (1, 2, 1)
    assert n["recovery.second.early"] == pytest.approx(
        np.mean([loss[600:620].mean(dtype=np.float64), loss[900:920].mean(dtype=np.float64)]))
    assert n["recovery.first.pre"] == pytest.approx(loss[250:300].mean(dtype=np.float64))
    assert n["evals"] == 4                              # the knock-out is not a row
    # forgetting: A 0.5 - 0.2, B 0.4 - 0.3. BWT: the final evaluation (1199) is in B (rows
    # 900..1199), so only A counts: last trained up to 899, evaluated next at 950 (0.45),
    # finally 0.5 -> -0.05
    assert n["forgetting"] == pytest.approx(np.mean([0.3, 0.1]))
    assert n["bwt"] == pytest.approx(0.45 - 0.5)
    assert n["drift.cms1"] == pytest.approx(0.3 / 1499 * 1000)
    assert s.flags == []
    g = group_numbers([s, s])
    assert g["final.outer_loss"] == (pytest.approx(n["final.outer_loss"]), 0.0, 2)


def test_render_lists_knockouts_and_group_spreads() -> None:
    from nlviz.analysis.grouping import group_by_config
    from nlviz.commands.report import LoadedRun, render
    sp = spec()
    evals = [EvalRecord(500, np.array([0.2, 0.4], np.float32), np.ones(2, np.float32)),
             EvalRecord(500, np.array([0.5, 0.9], np.float32), np.ones(2, np.float32),
                        "knockout:cms1")]
    runs = []
    for seed in (0, 1):
        v = healthy(sp, n=1200, first_step=0, seed=seed)
        runs.append(LoadedRun(f"r{seed}.h5", {"run": {"seed": seed}}, sp.level_names,
                              summarize_run(v, sp, evals, ReportOptions(last=100))))
    text = render(runs, group_by_config([r.config for r in runs]), ReportOptions(last=100))
    assert "| r0.h5 | 500 | knockout:cms1 | 0.3 | 0.7 | 0.4 |" in text
    losses = [r.summary.numbers["final.outer_loss"] for r in runs]
    row = next(line for line in text.splitlines() if line.startswith("| G1 | ")
               and "±" in line)
    mean, spread = row.split("|")[2].split(" ± ")
    assert float(mean) == pytest.approx(np.mean(losses), rel=1e-3)
    assert float(spread) == pytest.approx(np.std(losses, ddof=1), rel=0.05)
