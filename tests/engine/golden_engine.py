"""The golden outputs of the engine as it was before the batched, differentiable core
(commit 32898c1): ``python tests/engine/golden_engine.py`` rewrote tests/data/engine_golden.npz
then. The no-grad path must reproduce every array bit for bit where the math is unchanged.

Each case runs a float32 HOPE from seed 3 on a regime-shift stream, in pieces of the
given sizes (cuts across Titans chunks and CMS events), and keeps every step's metrics,
scalars and block output plus the final state.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from engine.config import CMSConfig, ModelConfig, StreamConfig, TitansConfig
from engine.model import HOPE
from engine.streams import make_stream

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "engine_golden.npz"
STEPS = 96
CASES: dict[str, ModelConfig] = {
    "default": ModelConfig(),
    "chunked": ModelConfig(titans=TitansConfig(chunk_size=8)),
    "linear_stopgrad": ModelConfig(titans=TitansConfig(kind="linear", stop_grad_target=True,
                                                       momentum=0.0)),
    "fixed_reconstruction": ModelConfig(titans=TitansConfig(gates="fixed", proximal=False),
                                        cms=CMSConfig(objective="reconstruction",
                                                      periods=(3, 5), retention=0.99)),
    "lmm": ModelConfig(titans=TitansConfig(variant="lmm", chunk_size=4)),
    "no_cms": ModelConfig(cms=CMSConfig(periods=())),
}
PIECES = (1, 3, 5, 2, 7)


def run_case(cfg: ModelConfig) -> dict[str, np.ndarray]:
    """Every output of ``STEPS`` steps of ``cfg``, fed in ``PIECES``-sized calls."""
    model = HOPE(cfg, 3, torch.device("cpu"))
    x = make_stream(StreamConfig(), cfg.d_in, 3).sample(0, STEPS).x
    xs = torch.from_numpy(x)
    metrics, scalars, ys = [], [], []
    done, i = 0, 0
    while done < STEPS:
        n = min(PIECES[i % len(PIECES)], model.chunk_room(), STEPS - done)
        m, s, _, y = model.step(xs[done:done + n])
        metrics.append(m.numpy().copy())
        scalars.append(s.numpy().copy())
        ys.append(y.T.numpy().copy())
        done += n
        i += 1
    out = {"metrics": np.concatenate(metrics), "scalars": np.concatenate(scalars),
           "y": np.concatenate(ys)}
    if not model.pending:
        out.update({f"state/{k}": v.numpy().copy() for k, v in model.state_dict().items()})
    return out


def main() -> None:
    arrays = {f"{name}/{k}": v for name, cfg in CASES.items() for k, v in run_case(cfg).items()}
    np.savez_compressed(GOLDEN, **arrays)
    print(f"wrote {GOLDEN} ({len(arrays)} arrays)", file=sys.stderr)


if __name__ == "__main__":
    main()
