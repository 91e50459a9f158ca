"""A synthetic fast engine for the GUI benchmark (``bench/gui.py --synthetic-rate``).

The compiled engine (issue 12) is not merged here yet, and today's eager engine runs
about 700 steps/s on this machine, so the GUI side (pipe, thinning, ring, pyramid,
presenter, recorder) cannot be measured at the target rates with the real one. This
``EngineLoop`` subclass builds the real session (its spec, state template, info) but
replaces the stepping: each batch is plausible rows of that spec (random metrics, the
level schedule in ``fired``, regime switches every 500 steps) produced at ``RATE`` steps
per second, with a probe evaluation and a weight snapshot every 64 steps, a frozen
evaluation every 256 and a state record every 1,024 (the default preset's cadences),
shaped like the real ones. Everything after the stepping is the real code path: the
recorder gets every batch first, then the batch goes to the GUI.

Chosen by ``EngineWorker.loop = "bench.fast_feed:SyntheticLoop"``; the rate comes from
the ``NLVIZ_BENCH_RATE`` environment variable (inherited by the child).
"""
from __future__ import annotations

import os
import time
from dataclasses import replace
from multiprocessing.connection import Connection

import numpy as np

from engine.frames import EvalRecord, FrameBatch, ProbeRecord, SnapshotRecord, StateRecord
from nlviz.host.loop import EngineLoop
from nlviz.host.protocol import Source
from nlviz.host.recording_link import state_template

RATE_ENV = "NLVIZ_BENCH_RATE"
PROBE_EVERY, EVAL_EVERY, STATE_EVERY, SWITCH_EVERY = 64, 256, 1024, 500


class SyntheticLoop(EngineLoop):
    """``EngineLoop`` whose steps are synthetic rows at ``NLVIZ_BENCH_RATE`` steps/s."""

    def __init__(self, conn: Connection, source: Source) -> None:
        super().__init__(conn, source)
        self.rate_target = float(os.environ.get(RATE_ENV, "50000"))
        spec = self.session.spec
        self.rng = np.random.default_rng(0)
        L, P = len(spec.levels), spec.probe_size
        self.probe = ProbeRecord(0, np.arange(P, dtype=np.int64),
                                 self.rng.random((L, P)).astype(np.float32))
        shapes = [lv.snapshot_shape for lv in spec.levels]
        self.snap = SnapshotRecord(0, tuple(self.rng.standard_normal(s).astype(np.float32)
                                            for s in shapes),
                                   tuple(np.zeros(s, np.float32) for s in shapes))
        R = max(1, len(spec.regime_names))
        self.eval = EvalRecord(0, np.ones(R, np.float32), np.ones(R, np.float32))
        tmpl = state_template(self.session)
        self.state = StateRecord(0, tmpl) if tmpl else None
        self.t_next = time.perf_counter()

    def _run_batch(self, n: int) -> None:
        t0 = time.perf_counter()
        batch = self._synthetic(int(self.session.step_count), n)
        self.session.step_count += n
        self.t_next = max(self.t_next, t0 - 0.1) + n / self.rate_target
        wait = self.t_next - time.perf_counter()
        if wait > 0:                                  # the engine's compute time
            time.sleep(wait)
        dt = time.perf_counter() - t0
        self.sec_per_step = 0.7 * self.sec_per_step + 0.3 * dt / n
        self.play_done += n
        if self.remaining is not None:
            self.remaining -= n
        self._publish(batch)

    def _synthetic(self, start: int, n: int) -> FrameBatch:
        spec, rng = self.session.spec, self.rng
        L, M, G = len(spec.levels), len(spec.level_metrics), len(spec.global_metrics)
        steps = np.arange(start, start + n, dtype=np.int64)
        periods = np.array(spec.update_periods)
        b = FrameBatch(
            step=steps, level=np.abs(rng.standard_normal((n, L, M))).astype(np.float32),
            fired=((steps[:, None] + 1) % periods[None, :] == 0).astype(np.uint8),
            scalars=np.abs(rng.standard_normal((n, G))).astype(np.float32),
            inputs=rng.standard_normal((n, spec.d_in)).astype(np.float32),
            regime=(steps // SWITCH_EVERY % max(1, len(spec.regime_names))).astype(np.int32),
            token=np.full(n, -1, np.int32), wall_time=np.zeros(n))

        def at(every: int) -> list[int]:
            return [int(s) for s in steps[(steps + 1) % every == 0]]

        b.probes = [replace(self.probe, step=s) for s in at(PROBE_EVERY)]
        b.snapshots = [replace(self.snap, step=s) for s in at(PROBE_EVERY)]
        b.evals = [replace(self.eval, step=s) for s in at(EVAL_EVERY)]
        if self.state is not None:
            b.states = [replace(self.state, step=s) for s in at(STATE_EVERY)]
        return b


__all__ = ["RATE_ENV", "SyntheticLoop"]
