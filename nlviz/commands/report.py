"""``nlviz report A.h5 B.h5 ...``: the research numbers of run recordings as Markdown.

Per run and per group of runs that differ only by seed (mean ± sample spread over the
seeds): final loss against the copy / zero / oracle baselines, recovery after regime
switches by visit, forgetting and backward transfer from the evaluation matrix, drift
per 1000 steps per level, and health flags with the step since which each held. The
definitions are in ``nlviz.analysis.summary`` and in ``nlviz report --help``. No Qt; the
files are read through ``nlviz.recording``'s reader, the numbers come from
``nlviz.analysis``. Unreadable input: one line naming the file, exit 2.
"""
from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nlviz.analysis.evalmatrix import mean_finite
from nlviz.analysis.grouping import Group, group_by_config
from nlviz.analysis.health import health_config_for
from nlviz.analysis.summary import ReportOptions, RunSummary, flag_counts, group_numbers
from nlviz.analysis.switches import VISIT_GROUPS
from nlviz.errors import UserError, one_line

HELP = """\
definitions (lower loss is better; "-" = not available):
  final loss       mean outer (next-step) loss over the last --last steps
  copy/zero/oracle the same mean of the engine's baselines on the same stream: copy the
                   last input, predict zero, the best per-regime predictor (where the
                   stream knows its noiseless value); loss/copy < 1 beats copying
  recovery         per regime switch, split by the visit of the regime entered (first,
                   second, later = third or more): pre = mean loss over the --before steps
                   before the switch; early = mean over the first --early steps after it;
                   early/pre; recovered = share of switches whose --smooth-step forward mean
                   came back within --tol of pre before the next switch; steps = mean steps
                   until it did (over the recovered ones)
  forgetting       evaluation matrix (frozen weights on held-out windows of each regime):
                   final loss minus the best earlier loss, mean over regimes (below 0:
                   the final evaluation beats every earlier one)
  BWT              backward transfer: loss right after a regime was last trained minus
                   its final loss, mean over regimes; positive = later training helped,
                   negative = it hurt
  drift            change of ||W - W0|| / ||W0|| per 1000 steps, per level
  knock-out        held-out loss (mean over regimes) of the model with a level knocked out
                   or restored to an earlier state, next to the intact model's
  health           collapse (weight norm < 5 % of its start), constant Titans gate (std <
                   1e-4 x mean over 500 steps; not for fixed gates), NaN, worse than
                   copying (200-step means); each with the step since which it held
  groups           runs whose configs are equal without run.seed; mean ± sample spread
                   (ddof 1) over the runs"""


def add_report_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="print a Markdown report of run recordings (per run "
                       "and per config group over seeds)", description="Print the research numbers of run recordings "
                       "as Markdown,\nper run and per group of runs that differ only by seed.",
                       epilog=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", metavar="RUN.h5", help="run recordings (nlviz record)")
    p.add_argument("--last", type=int, default=500, help="steps of the final-loss mean (500)")
    p.add_argument("--before", type=int, default=200, help="steps of the pre-switch level (200)")
    p.add_argument("--early", type=int, default=100, help="steps of the early mean after a "
                   "switch (100)")
    p.add_argument("--smooth", type=int, default=50, help="forward mean for recovery (50)")
    p.add_argument("--tol", type=float, default=0.10, help="recovered = within this fraction "
                   "of the pre-switch level (0.10)")


@dataclass(frozen=True)
class LoadedRun:
    """One recording's summary and what the report names it by."""

    path: str
    config: dict[str, Any]
    levels: tuple[str, ...]
    summary: RunSummary


def load_run(path: str, opts: ReportOptions) -> LoadedRun:
    """Read one run recording and summarise it; ``UserError`` (one line naming the file)
    on anything unreadable."""
    from nlviz.recording.damage import READ_ERRORS
    from nlviz.recording.reader import Recording, RecordingError
    from nlviz.recording.training_reader import file_kind
    from nlviz.replay.source import ReplaySource

    if file_kind(path) == "training":
        raise UserError(f"{path}: a training recording (nlviz train); report reads run "
                        "recordings (nlviz record)")
    with Recording.open(path) as rec:
        try:
            if rec.n_rows == 0:
                raise UserError(f"{path}: no steps recorded")
            view = ReplaySource(rec).raw()
            evals = rec.evals()
            health = health_config_for(rec.config, **_health_kw(opts))
            o = ReportOptions(opts.last, opts.before, opts.early, opts.smooth, opts.tol,
                              opts.per, health)
            from nlviz.analysis.summary import summarize_run
            summary = summarize_run(view, rec.spec, evals, o)
        except (RecordingError, UserError):
            raise
        except (*READ_ERRORS, KeyError, ValueError, IndexError, MemoryError) as exc:
            raise UserError(f"{path}: unreadable recording: {type(exc).__name__}: "
                            f"{one_line(exc)}") from None
        return LoadedRun(path, rec.config, rec.spec.level_names, summary)


def _health_kw(opts: ReportOptions) -> dict[str, Any]:
    h = opts.health
    return {"collapse_frac": h.collapse_frac, "gate_window": h.gate_window,
            "gate_tol": h.gate_tol, "loss_window": h.loss_window, "copy_margin": h.copy_margin}


# ---------------------------------------------------------------------------- formatting
def fmt(x: float) -> str:
    """4 significant digits; "-" for NaN."""
    return "-" if x != x else f"{x:.4g}"


def fmt_group(v: tuple[float, float, int], size: int = 0) -> str:
    """``"mean ± spread"`` (4 and 2 significant digits), ``" (n=k)"`` added when only k of
    the group's ``size`` runs have the value; "-" when none has."""
    mean, spread, n = v
    if n == 0:
        return "-"
    return f"{mean:.4g} ± {spread:.2g}" + (f" (n={n})" if 0 < n < size else "")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out + [""]


def _names(paths: Sequence[str]) -> list[str]:
    base = [os.path.basename(p) for p in paths]
    return base if len(set(base)) == len(base) else list(paths)


LOSS_KEYS = ("final.outer_loss", "final.copy_loss", "final.zero_loss", "final.oracle_loss",
             "ratio.copy", "ratio.zero", "ratio.oracle")
LOSS_HEAD = ("final loss", "copy", "zero", "oracle", "loss/copy", "loss/zero", "loss/oracle")
REC_KEYS = ("switches", "pre", "early", "early_ratio", "recovered", "steps")


def render(runs: Sequence[LoadedRun], groups: Sequence[Group], opts: ReportOptions) -> str:
    """The Markdown report."""
    names = _names([r.path for r in runs])
    gname = {i: f"G{gi + 1}" for gi, g in enumerate(groups) for i in g.members}
    levels = list(dict.fromkeys(lv for r in runs for lv in r.levels))
    stats = [group_numbers([runs[i].summary for i in g.members]) for g in groups]
    size = [len(g.members) for g in groups]
    rec_head = ("switches", "pre", f"early ({opts.early})", "early/pre", "recovered",
                "steps to recover")
    lines = ["# nlviz report", "",
             f"{len(runs)} run(s) in {len(groups)} group(s). Final loss: mean of the last "
             f"{opts.last} steps. Recovery: pre = {opts.before} steps before a switch, early = "
             f"first {opts.early} after, recovered = {opts.smooth}-step forward mean within "
             f"{opts.tol:.0%} of pre. Groups: mean ± sample spread over seeds. Definitions: "
             "`nlviz report --help`.", "", "## Groups", ""]
    lines += _table(("group", "config", "runs", "seeds"),
                    [(f"G{gi + 1}", g.label, ", ".join(names[i] for i in g.members),
                      ", ".join(str(s) for s in g.seeds)) for gi, g in enumerate(groups)])
    lines += ["### Final loss vs baselines (groups)", ""]
    lines += _table(("group", *LOSS_HEAD), [(f"G{gi + 1}", *(fmt_group(st[k], size[gi]) for k in LOSS_KEYS))
                                            for gi, st in enumerate(stats)])
    lines += ["### Recovery after switches by visit (groups)", ""]
    lines += _table(("group", "visit", *rec_head),
                    [(f"G{gi + 1}", v, *(fmt_group(st[f"recovery.{v}.{k}"], size[gi])
                                        for k in REC_KEYS))
                     for gi, st in enumerate(stats) for v in VISIT_GROUPS])
    lines += ["### Forgetting from the evaluation matrix (groups)", ""]
    lines += _table(("group", "evaluations", "forgetting", "BWT"),
                    [(f"G{gi + 1}", *(fmt_group(st[k], size[gi])
                                      for k in ("evals", "forgetting", "bwt")))
                     for gi, st in enumerate(stats)])
    lines += [f"### Drift per {opts.per} steps (groups)", ""]
    lines += _table(("group", *levels),
                    [(f"G{gi + 1}", *(fmt_group(st.get(f"drift.{lv}", (0.0, 0.0, 0)), size[gi])
                                      for lv in levels)) for gi, st in enumerate(stats)])
    lines += ["### Health (groups)", ""]
    rows = []
    for gi, g in enumerate(groups):
        for (kind, level), since in flag_counts([runs[i].summary for i in g.members]).items():
            rows.append((f"G{gi + 1}", kind, level or "-", f"{len(since)}/{len(g.members)}",
                         str(min(since))))
    lines += _table(("group", "flag", "level", "runs", "earliest since step"), rows) \
        if rows else ["No health flags.", ""]
    lines += ["## Runs", "", "### Final loss vs baselines (runs)", ""]
    lines += _table(("run", "group", "steps", *LOSS_HEAD),
                    [(names[i], gname[i], f"{r.summary.first_step}..{r.summary.last_step}",
                      *(fmt(r.summary.numbers[k]) for k in LOSS_KEYS))
                     for i, r in enumerate(runs)])
    lines += ["### Recovery after switches by visit (runs)", ""]
    lines += _table(("run", "visit", *rec_head),
                    [(names[i], v, *(fmt(r.summary.numbers[f"recovery.{v}.{k}"])
                                     for k in REC_KEYS))
                     for i, r in enumerate(runs) for v in VISIT_GROUPS])
    lines += ["### Forgetting from the evaluation matrix (runs)", ""]
    lines += _table(("run", "evaluations", "forgetting", "BWT"),
                    [(names[i], *(fmt(r.summary.numbers[k]) for k in ("evals", "forgetting",
                                                                      "bwt")))
                     for i, r in enumerate(runs)])
    lines += [f"### Drift per {opts.per} steps (runs)", ""]
    lines += _table(("run", *levels),
                    [(names[i], *(fmt(r.summary.numbers.get(f"drift.{lv}", float("nan")))
                                  for lv in levels)) for i, r in enumerate(runs)])
    effects = [[names[i], str(e.step), e.variant, fmt(mean_finite(e.intact)),
                fmt(mean_finite(e.ablated)), fmt(mean_finite(e.delta))]
               for i, r in enumerate(runs) for e in r.summary.effects]
    if effects:
        lines += ["### Knock-out and restore evaluations (runs)", ""]
        lines += _table(("run", "step", "variant", "intact loss", "ablated loss",
                         "ablated - intact"), effects)
    lines += ["### Health (runs)", ""]
    rows = [(names[i], f.kind, f.level or "-", str(f.since_step), f.detail)
            for i, r in enumerate(runs) for f in r.summary.flags]
    lines += _table(("run", "flag", "level", "since step", "detail"), rows) \
        if rows else ["No health flags.", ""]
    return "\n".join(lines).rstrip() + "\n"


def run_report(args: argparse.Namespace) -> int:
    """Print the report of ``args.paths``; 0 on success (bad input raises ``UserError``)."""
    for name in ("last", "before", "early", "smooth"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name} {getattr(args, name)}: must be at least 1")
    if not 0 <= args.tol < 10:
        raise UserError(f"--tol {args.tol}: must be in [0, 10)")
    opts = ReportOptions(args.last, args.before, args.early, args.smooth, args.tol)
    runs = [load_run(p, opts) for p in args.paths]
    groups = group_by_config([r.config for r in runs])
    print(render(runs, groups, opts), end="")
    return 0


__all__ = ["HELP", "LoadedRun", "add_report_parser", "load_run", "render", "run_report"]
