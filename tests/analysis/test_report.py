"""``nlviz report``: its numbers against values computed directly from the recordings
(read with the Reader, not through nlviz.analysis), and its one-line refusals."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from nlviz.cli import main
from nlviz.recording.reader import Recording
from tests.support.training_file import write_training_file


def record(path: Path, steps: int, *extra: str) -> Path:
    assert main(["record", "--out", str(path), "--steps", str(steps), "--no-progress",
                 *extra]) == 0
    return path


def table(text: str, title: str) -> list[list[str]]:
    """Rows (cells) of the Markdown table under the heading ``## title`` / ``### title``."""
    lines = text.splitlines()
    i = next(k for k, line in enumerate(lines)
             if line.startswith("#") and line.lstrip("#").strip() == title) + 2
    rows = []
    for line in lines[i + 2:]:                   # header, rule
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


def pm(cell: str) -> tuple[float, float]:
    """``"0.1234 ± 0.0056"`` -> (0.1234, 0.0056)."""
    mean, spread = cell.split(" (n=")[0].split(" ± ")
    return float(mean), float(spread)


def num(cell: str) -> float:
    return math.nan if cell == "-" else float(cell)


def direct(path: Path, last: int = 500, before: int = 200, early: int = 100) -> dict:
    """The report's per-run numbers, computed here from the file's columns."""
    with Recording.open(path) as rec:
        steps = rec.steps.astype(np.int64)
        out = {m: float(np.mean(rec.column(m)[-last:])) for m in rec.spec.global_metrics}
        loss = rec.column("outer_loss").astype(np.float64)
        regime = rec.regime()
        drift = {lv: (rec.column("drift_init", lv)[-1] - rec.column("drift_init", lv)[0])
                 / (steps[-1] - steps[0]) * 1000 for lv in rec.spec.level_names}
    seen: dict[int, int] = {int(regime[0]): 1}
    early_by_visit: dict[str, list[float]] = {"first": [], "second": [], "later": []}
    for i in range(1, len(regime)):
        if regime[i] != regime[i - 1]:
            r = int(regime[i])
            seen[r] = seen.get(r, 0) + 1
            v = ("first", "second", "later")[min(seen[r], 3) - 1]
            early_by_visit[v].append(loss[i:i + early].mean())
    out["early"] = {v: float(np.mean(x)) if x else math.nan for v, x in early_by_visit.items()}
    out["switches"] = {v: len(x) for v, x in early_by_visit.items()}
    out["drift"] = drift
    return out


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """400 steps of the tiny preset (regimes switch every 50 steps)."""
    return record(tmp_path_factory.mktemp("tiny") / "tiny.h5", 400, "--preset", "tiny")


def test_report_of_one_run_matches_the_file(tiny_run: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    path = tiny_run
    capsys.readouterr()
    assert main(["report", str(path), "--last", "100", "--early", "20", "--before", "30"]) == 0
    text = capsys.readouterr().out
    want = direct(path, last=100, early=20)
    row = table(text, "Final loss vs baselines (runs)")[0]
    assert row[:3] == ["tiny.h5", "G1", "0..399"]
    assert num(row[3]) == pytest.approx(want["outer_loss"], rel=1e-3)
    assert num(row[4]) == pytest.approx(want["copy_loss"], rel=1e-3)
    assert num(row[7]) == pytest.approx(want["outer_loss"] / want["copy_loss"], rel=1e-3)
    rec_rows = {r[1]: r for r in table(text, "Recovery after switches by visit (runs)")}
    for v in ("first", "second", "later"):       # tiny switches every 50 steps
        assert int(num(rec_rows[v][2])) == want["switches"][v]
        assert num(rec_rows[v][4]) == pytest.approx(want["early"][v], rel=1e-3)
    drift = table(text, "Drift per 1000 steps (runs)")[0]
    with Recording.open(path) as rec:
        names = rec.spec.level_names
    for lv, cell in zip(names, drift[1:]):
        assert num(cell) == pytest.approx(want["drift"][lv], rel=1e-3, abs=1e-9)


def _bad_file(d: Path, kind: str) -> Path:
    path = d / f"{kind}.h5"
    if kind == "text":
        path.write_text("not hdf5")
    elif kind == "training":
        write_training_file(path, steps=20)
    return path


@pytest.mark.parametrize("kind,expect", [
    ("missing", "no such file"), ("text", "not an HDF5 file"),
    ("training", "a training recording")])
def test_bad_input_is_one_line_naming_the_file_and_exit_2(tmp_path: Path, kind: str,
                                                          expect: str, tiny_run: Path,
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    path = _bad_file(tmp_path, kind)
    capsys.readouterr()
    assert main(["report", str(tiny_run), str(path)]) == 2
    err = capsys.readouterr()
    assert err.out == ""
    lines = err.err.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and expect in lines[0], err.err


def test_health_flags_of_a_run_built_to_collapse(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Fixed Titans gates with retention 0.5: every Titans memory halves each step."""
    path = record(tmp_path / "collapse.h5", 300, "--preset", "tiny", "--set",
                  "model.titans.gates=fixed", "--set", "model.titans.retention=0.5")
    capsys.readouterr()
    assert main(["report", str(path)]) == 0
    rows = table(capsys.readouterr().out, "Health (runs)")
    got = {(r[1], r[2]): int(r[3]) for r in rows}
    collapsed = set()
    with Recording.open(path) as rec:
        steps = rec.steps
        for lv in rec.spec.level_names:
            w = rec.column("weight_norm", lv)
            below = w < 0.05 * w[0]
            if below[-1]:
                since = int(steps[len(below) - np.argmin(below[::-1])]) if not below.all() \
                    else int(steps[0])
                assert got.pop(("collapse", lv)) == since
                collapsed.add(lv)
            else:
                assert ("collapse", lv) not in got
    assert {k for k in got if k[0] == "collapse"} == set()
    assert collapsed == {"memory", "k", "v", "eta", "alpha"}    # the Titans memories decay
    assert ("constant_gate", "memory") not in got       # fixed gates are constant on purpose


def test_bad_option_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "x.h5", "--last", "0"]) == 2
    assert capsys.readouterr().err.strip() == "nlviz: error: --last 0: must be at least 1"


@pytest.fixture(scope="module")
def ablation(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The default preset and the same with every CMS period 1, three seeds each; regimes
    switch every 250 steps so 2000 steps hold first, second and later visits."""
    d = tmp_path_factory.mktemp("ablation")
    paths = []
    for periods in ("[4, 16, 64]", "[1, 1, 1]"):
        for seed in (0, 1, 2):
            tag = "p1" if periods == "[1, 1, 1]" else "def"
            paths.append(record(d / f"{tag}_s{seed}.h5", 2000, "--seed", str(seed), "--set",
                                f"model.cms.periods={periods}", "--set",
                                "stream.switch_every=250", "--set", "run.eval_every=250"))
    return paths


def test_report_groups_seeds_and_its_means_and_spreads_match_the_files(
        ablation: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["report", *map(str, ablation)]) == 0
    text = capsys.readouterr().out
    groups = table(text, "Groups")
    assert [g[0] for g in groups] == ["G1", "G2"]
    assert "model.cms.periods=[4, 16, 64]" in groups[0][1]
    assert "model.cms.periods=[1, 1, 1]" in groups[1][1]
    assert groups[0][2] == "def_s0.h5, def_s1.h5, def_s2.h5" and groups[0][3] == "0, 1, 2"
    finals = table(text, "Final loss vs baselines (groups)")
    visits = table(text, "Recovery after switches by visit (groups)")
    drifts = table(text, "Drift per 1000 steps (groups)")
    for gi, members in enumerate((ablation[:3], ablation[3:])):
        d = [direct(p) for p in members]
        for col, key in ((1, "outer_loss"), (2, "copy_loss"), (3, "zero_loss"),
                         (4, "oracle_loss")):
            vals = [x[key] for x in d]
            mean, spread = pm(finals[gi][col])
            assert mean == pytest.approx(np.mean(vals), rel=1e-3), key
            assert spread == pytest.approx(np.std(vals, ddof=1), rel=0.05, abs=1e-12), key
        ratio = [x["outer_loss"] / x["copy_loss"] for x in d]
        assert pm(finals[gi][5])[0] == pytest.approx(np.mean(ratio), rel=1e-3)
        for row in (r for r in visits if r[0] == f"G{gi + 1}"):
            v = row[1]
            vals = [x["early"][v] for x in d]
            assert [x["switches"][v] for x in d] == [x["switches"][v] for x in d[:1]] * 3
            assert pm(row[2])[0] == d[0]["switches"][v]
            assert pm(row[4])[0] == pytest.approx(np.mean(vals), rel=1e-3)
            assert pm(row[4])[1] == pytest.approx(np.std(vals, ddof=1), rel=0.05)
        with Recording.open(members[0]) as rec:
            names = rec.spec.level_names
        for lv, cell in zip(names, drifts[gi][1:]):
            vals = [x["drift"][lv] for x in d]
            assert pm(cell)[0] == pytest.approx(np.mean(vals), rel=1e-3, abs=1e-9)
    assert text.count("No health flags.") == 2           # healthy runs: silent
    forget = table(text, "Forgetting from the evaluation matrix (runs)")
    for p, row in zip(ablation, forget):
        assert row[0] == p.name
        with Recording.open(p) as rec:
            evals = [e for e in rec.evals() if e.variant == ""]
            regime = rec.regime()
        assert int(num(row[1])) == len(evals)
        assert len(evals) == 8    # every 250 steps: after steps 249, 499, ... 1999
        evals.sort(key=lambda e: e.step)
        # forgetting: final loss minus the best earlier one, per regime, mean over regimes
        loss = np.array([e.losses for e in evals], float)
        want = np.nanmean(loss[-1] - np.nanmin(loss[:-1], axis=0))
        assert num(row[2]) == pytest.approx(want, rel=1e-3, abs=1e-6)
        # BWT: only the regime not being trained at the final evaluation counts; its loss
        # at the first evaluation after it was last trained minus its final loss
        final = evals[-1].step
        other = 1 - int(regime[final])
        last_trained = max(t for t in range(final) if regime[t] == other)
        after = next(i for i, e in enumerate(evals) if e.step >= last_trained)
        assert num(row[3]) == pytest.approx(loss[after, other] - loss[-1, other], rel=1e-3,
                                            abs=1e-6)
    # every switch kind is there: 2000 steps, switches every 250 -> 7 switches
    assert [pm(r[2])[0] for r in visits[:3]] == [1.0, 2.0, 4.0]
