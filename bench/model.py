"""What the shipped model does, measured (docs/model.md quotes this script's output).

    python bench/model.py                      # the default model, seeds 0 1 2
    python bench/model.py --compare M1.npz     # + retention against a model trained with
                                               #   every CMS period 1
    python bench/model.py --model random       # today's random start, for contrast

For each seed, on the default preset's stream (regime_shift, switch every 500 steps, 2
regimes) and on multi_timescale, the model runs token by token as the live app does:

- gates: the std of eta after step 1,000 relative to its mean; Spearman correlation of
  eta and of rho with the memory's surprise; the smallest weight norm of every memory
  over the run relative to its start;
- next-step loss ``1/2 ||w_out y_t - x_{t+1}||^2`` against copying x_t and predicting 0;
- associative recall: cosine of the predicted value with the stored one at each query,
  by lag (steps since the pair was written);
- retention (with --compare): the loss in the 50 steps after a regime returns, and the
  frozen forgetting of a regime while it is away (held-out loss of regime A with the
  state A left behind vs the state just before A returns, no writes during evaluation).

Prints one table per figure and writes everything as JSON (--json).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.config import Config, ModelConfig, StreamConfig  # noqa: E402
from engine.model import HOPE  # noqa: E402
from engine.pretrained import load_model_weights  # noqa: E402
from engine.streams import make_stream  # noqa: E402
from nlviz.config_loader import load_config  # noqa: E402

REGIME = StreamConfig("regime_shift", (("n_regimes", 2), ("noise", 0.05), ("switch_every", 500)))
MULTI = StreamConfig("multi_timescale", (("noise", 0.05),))


def load(model: str, preset: str = "default"
         ) -> tuple[ModelConfig, dict[str, torch.Tensor] | None, str]:
    """(model config, slow weights or None, label) for 'auto', 'random' or a path."""
    cfg: Config = load_config(preset, model=model)
    _, weights = load_model_weights(cfg.model)
    label = Path(cfg.model.weights).name if cfg.model.weights else "random"
    return replace(cfg.model, weights="", weights_sha256=""), weights, label


def run_stream(cfg: ModelConfig, weights, seed: int, stream: StreamConfig, steps: int,
               norms_every: int = 100) -> dict[str, np.ndarray]:
    """Token by token: predictions' loss, copy/zero baselines, eta, rho, surprise, norms."""
    torch.manual_seed(seed)
    model = HOPE(cfg, seed, torch.device("cpu"), weights)
    xs = torch.from_numpy(make_stream(stream, cfg.d_in, seed).sample(0, steps + 1).x)
    loss, copy, zero = (np.zeros(steps) for _ in range(3))
    eta, rho, surprise = (np.zeros(steps) for _ in range(3))
    norm0 = np.concatenate([model.titans.w_norm.numpy(),
                            [float(lv.w_norm) for lv in model.cms.levels]])
    norms = [norm0]
    with torch.no_grad():
        for t in range(steps):
            _, _, read, y = model.step(xs[t:t + 1])
            pred = (model.w_out @ y)[:, 0]
            nxt = xs[t + 1]
            loss[t] = 0.5 * float((pred - nxt).square().sum())
            copy[t] = 0.5 * float((xs[t] - nxt).square().sum())
            zero[t] = 0.5 * float(nxt.square().sum())
            eta[t], rho[t] = float(read.eta[0]), float(read.rho[0])
            surprise[t] = float(read.surprise[0, 0])
            if (t + 1) % norms_every == 0:
                norms.append(np.concatenate([model.titans.w_norm.numpy(),
                                             [float(lv.w_norm) for lv in model.cms.levels]]))
    return {"loss": loss, "copy": copy, "zero": zero, "eta": eta, "rho": rho,
            "surprise": surprise, "norms": np.array(norms), "levels": np.array(model.level_names)}


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Rank correlation (average ranks for ties)."""
    def ranks(v: np.ndarray) -> np.ndarray:
        order = np.argsort(v, kind="mergesort")
        r = np.empty(len(v))
        r[order] = np.arange(len(v))
        _, inv, counts = np.unique(v, return_inverse=True, return_counts=True)
        sums = np.bincount(inv, weights=r)
        return (sums / counts)[inv]
    ra, rb = ranks(a), ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def gate_figures(run: dict[str, np.ndarray]) -> dict[str, float]:
    eta, rho, s = run["eta"][1000:], run["rho"][1000:], run["surprise"][1000:]
    ratio = run["norms"] / np.maximum(run["norms"][0], 1e-12)
    out = {"eta_mean": float(eta.mean()), "eta_cv": float(eta.std() / max(eta.mean(), 1e-12)),
           "rho_mean": float(rho.mean()), "rho_std": float(rho.std()),
           "spearman_eta_surprise": spearman(eta, s), "spearman_rho_surprise": spearman(rho, s)}
    for name, r in zip(run["levels"], ratio.min(0)):
        out[f"min_norm_ratio_{name}"] = float(r)
    return out


def loss_figures(run: dict[str, np.ndarray], skip: int = 100) -> dict[str, float]:
    sl = slice(skip, None)
    m, c, z = (float(run[k][sl].mean()) for k in ("loss", "copy", "zero"))
    return {"loss": m, "copy": c, "zero": z, "vs_copy": m / c, "vs_zero": m / z}


def recall_by_lag(cfg: ModelConfig, weights, seed: int, rounds: int = 60
                  ) -> dict[int, list[float]]:
    """Cosine of the predicted value with the true one at each query, keyed by lag."""
    rng = np.random.default_rng([seed, 77])
    d_in, half = cfg.d_in, cfg.d_in // 2
    model = HOPE(cfg, seed, torch.device("cpu"), weights)
    out: dict[int, list[float]] = {}
    t = 0
    with torch.no_grad():
        for _ in range(rounds):
            n = int(rng.integers(1, 9))
            keys = rng.standard_normal((n, half))
            keys /= np.linalg.norm(keys, axis=1, keepdims=True)
            vals = rng.standard_normal((n, d_in - half))
            vals /= np.linalg.norm(vals, axis=1, keepdims=True)
            written = {}
            for i in range(n):               # key token, then value token
                for tok in (np.r_[keys[i], np.zeros(d_in - half)],
                            np.r_[np.zeros(half), vals[i]]):
                    model.step(torch.from_numpy(tok[None]).to(model.dtype))
                    t += 1
                written[i] = t - 1
            for i in rng.permutation(n):     # query: the key; the prediction is the value
                key_tok = np.r_[keys[i], np.zeros(d_in - half)]
                _, _, _, y = model.step(torch.from_numpy(key_tok[None]).to(model.dtype))
                t += 1
                pred = (model.w_out @ y)[half:, 0].double().numpy()
                cos = float(pred @ vals[i] / max(np.linalg.norm(pred), 1e-12))
                out.setdefault(t - 1 - written[i], []).append(cos)
                model.step(torch.from_numpy(np.r_[np.zeros(half), vals[i]][None])
                           .to(model.dtype))
                t += 1
    return out


def lag_table(per_seed: list[dict[int, list[float]]]) -> list[tuple[str, float, float, int]]:
    bins = [(1, 2), (3, 4), (5, 8), (9, 16), (17, 32)]
    rows = []
    for lo, hi in bins:
        means = [np.mean([c for lag, cs in d.items() if lo <= lag <= hi for c in cs])
                 for d in per_seed]
        n = sum(len(cs) for d in per_seed for lag, cs in d.items() if lo <= lag <= hi)
        means = [m for m in means if not math.isnan(m)]
        if means:
            rows.append((f"{lo}-{hi}", float(np.mean(means)), float(np.std(means)), n))
    return rows


def frozen_loss(model: HOPE, state, count: int, xs: torch.Tensor) -> float:
    """Mean next-step loss over xs with the model frozen at ``state`` (restored before
    every token; the context is the evaluation sequence's own previous token)."""
    losses = []
    for t in range(len(xs) - 1):
        model.load_state_dict(state, count)
        if model.cfg.context > 1:
            prev = xs[max(t - model.cfg.context + 1, 0):t]
            pad = model.cfg.context - 1 - len(prev)
            model.prev_x = torch.cat([torch.zeros(pad, xs.shape[1], dtype=xs.dtype), prev])
        _, _, _, y = model.step(xs[t:t + 1])
        losses.append(0.5 * float(((model.w_out @ y)[:, 0] - xs[t + 1]).square().sum()))
    return float(np.mean(losses))


def retention(cfg: ModelConfig, weights, seed: int) -> dict[str, float]:
    """Return loss (first 50 steps of each return vs of the first visit) and frozen
    forgetting of regime A while B runs (steps 500-999)."""
    model = HOPE(cfg, seed, torch.device("cpu"), weights)
    stream = make_stream(REGIME, cfg.d_in, seed)
    xs = torch.from_numpy(stream.sample(0, 3001).x)
    held = torch.from_numpy(stream.sample(4000, 201).x)          # regime A (4000 // 500 even)
    loss = np.zeros(3000)
    snaps = {}
    with torch.no_grad():
        for t in range(3000):
            if t in (500, 1000):
                snaps[t] = ({k: v.clone() for k, v in model.state_dict().items()}, model.count)
            _, _, _, y = model.step(xs[t:t + 1])
            loss[t] = 0.5 * float(((model.w_out @ y)[:, 0] - xs[t + 1]).square().sum())
        leave = frozen_loss(model, *snaps[500], held)
        back = frozen_loss(model, *snaps[1000], held)
    first = float(loss[0:50].mean())
    returns = float(np.mean([loss[t:t + 50].mean() for t in (1000, 1500, 2000, 2500)]))
    return {"first_visit_50": first, "return_50": returns, "frozen_leave": leave,
            "frozen_back": back, "forgetting": back - leave}


def consolidation(cfg: ModelConfig, weights, seed: int, steps: int) -> dict[str, float]:
    """The consolidation preset's stream (3 regimes, switch every 400): is the fast memory
    alive (its weight norm and update size late in the run), and do the slow levels matter
    (frozen loss over the next 400 steps with each CMS level's learned branch removed,
    f_l = 0, against the full model; the slowest level's drift from its start)."""
    stream_cfg = StreamConfig("regime_shift", (("n_regimes", 3), ("noise", 0.05),
                                               ("switch_every", 400)))
    model = HOPE(cfg, seed, torch.device("cpu"), weights)
    xs = torch.from_numpy(make_stream(stream_cfg, cfg.d_in, seed).sample(0, steps + 401).x)
    norm0 = float(model.titans.w_norm[0])
    norms, updates = [], []
    with torch.no_grad():
        for t in range(steps):
            before = model.titans.bank.w2[0].clone()
            model.step(xs[t:t + 1])
            if t >= steps - 1000:
                norms.append(float(model.titans.w_norm[0]))
                updates.append(float((model.titans.bank.w2[0] - before).norm()))
        state, count = {k: v.clone() for k, v in model.state_dict().items()}, model.count
        held = xs[steps:steps + 401]
        full = frozen_loss(model, state, count, held)
        out = {"memory_norm_late": float(np.mean(norms)) / max(norm0, 1e-12),
               "memory_update_late": float(np.mean(updates)), "loss_full": full}
        for i, lv in enumerate(model.cms.levels):
            cut = dict(state)
            cut[f"cms{i}/w1"] = torch.zeros_like(state[f"cms{i}/w1"])
            out[f"loss_without_cms{i + 1}"] = frozen_loss(model, cut, count, held)
            w1_0, w2_0 = lv.init
            model.load_state_dict(state, count)
            out[f"drift_cms{i + 1}"] = float(torch.sqrt(
                (model.cms.levels[i].w1 - w1_0).square().sum() +
                (model.cms.levels[i].w2 - w2_0).square().sum()) /
                torch.sqrt(w1_0.square().sum() + w2_0.square().sum()))
    return out


def stat(values: list[float]) -> str:
    v = np.array(values, dtype=float)
    return f"{v.mean():.4g} ± {v.std():.2g}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="auto")
    p.add_argument("--compare", help="checkpoint trained the same way with every CMS period 1")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--json", help="write every figure here")
    p.add_argument("--consolidation", action="store_true",
                   help="only the consolidation preset's figures (its shipped model and "
                        "random weights)")
    args = p.parse_args()
    torch.set_num_threads(1)
    if args.consolidation:
        rows = {}
        for model in ("auto", "random"):
            c_cfg, c_w, c_label = load(model, "consolidation")
            rows[c_label] = [consolidation(c_cfg, c_w, s, args.steps) for s in args.seeds]
        keys = list(next(iter(rows.values()))[0])
        print("| figure | " + " | ".join(rows) + " |\n|---|" + "---|" * len(rows))
        for key in keys:
            print(f"| {key} | " + " | ".join(stat([r[key] for r in rs]) for rs in rows.values())
                  + " |")
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=1, default=float))
        return 0
    cfg, weights, label = load(args.model)
    t0 = time.perf_counter()
    report: dict = {"model": label, "seeds": args.seeds, "steps": args.steps}
    gates, regime, multi, recalls = [], [], [], []
    for seed in args.seeds:
        run = run_stream(cfg, weights, seed, REGIME, args.steps)
        gates.append(gate_figures(run))
        regime.append(loss_figures(run))
        multi.append(loss_figures(run_stream(cfg, weights, seed, MULTI, min(args.steps, 5000))))
        recalls.append(recall_by_lag(cfg, weights, seed))
    report["gates"], report["regime_shift"], report["multi_timescale"] = gates, regime, multi
    report["recall"] = lag_table(recalls)
    print(f"model {label}, seeds {args.seeds}, {args.steps} steps "
          f"({time.perf_counter() - t0:.0f} s)\n")
    print("| gate figure | mean ± std over seeds |\n|---|---|")
    for key in gates[0]:
        print(f"| {key} | {stat([g[key] for g in gates])} |")
    print("\n| stream | loss | copy x_t | predict 0 | loss / copy | loss / zero |")
    print("|---|---|---|---|---|---|")
    for name, rows in (("regime_shift", regime), ("multi_timescale", multi)):
        print(f"| {name} | " + " | ".join(stat([r[k] for r in rows]) for k in
                                         ("loss", "copy", "zero", "vs_copy", "vs_zero")) + " |")
    print("\n| lag (steps) | recall cosine | spread over seeds | queries |\n|---|---|---|---|")
    for lag, mean, std, n in report["recall"]:
        print(f"| {lag} | {mean:.3f} | {std:.3f} | {n} |")
    if args.compare:
        other_cfg, other_w, other_label = load(args.compare)
        rows = {label: [retention(cfg, weights, s) for s in args.seeds],
                other_label: [retention(other_cfg, other_w, s) for s in args.seeds]}
        report["retention"] = rows
        print("\n| model | first visit (50) | after a return (50) | frozen loss leaving A | "
              "frozen loss when A returns | forgetting |\n|---|---|---|---|---|---|")
        for name, rs in rows.items():
            print(f"| {name} | " + " | ".join(stat([r[k] for r in rs]) for k in
                  ("first_visit_50", "return_50", "frozen_leave", "frozen_back", "forgetting"))
                  + " |")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
