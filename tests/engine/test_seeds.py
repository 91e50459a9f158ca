"""engine.seeds.SeedBatch: N seeds in one batched model give, run by run, what N single
Sessions give (float tolerance; inputs, regimes, steps and fired exactly), including the
sparse records, and a fault in one run keeps every run's data."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.config import ConfigError
from engine.frames import FrameBatch
from engine.seeds import SeedBatch, SeedFault
from engine.session import Session
from nlviz.config_loader import load_config

RTOL, ATOL = 1e-5, 1e-6             # per-step metrics, states, snapshots, evaluations
PROBE_RTOL, PROBE_ATOL = 1e-3, 1e-5  # recall errors: ratios of small differences
SEEDS = (5, 6, 7)
CALLS = (37, 163, 100)               # crosses chunk, CMS event and record boundaries


def _config(preset: str, model: str | None, *extra: str):
    sets = ["run.eval_every=64", "run.state_every=64", *extra]
    return load_config(preset, sets, None, "cpu", SEEDS[0], model)


def _close(a: np.ndarray, b: np.ndarray, rtol: float = RTOL, atol: float = ATOL) -> None:
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64),
                               rtol=rtol, atol=atol, equal_nan=True)


def _assert_same(a: FrameBatch, b: FrameBatch) -> None:
    for name in ("step", "fired", "inputs", "regime", "token"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert np.array_equal(np.isnan(a.level), np.isnan(b.level))
    _close(a.level, b.level)
    _close(a.scalars, b.scalars)
    assert [p.step for p in a.probes] == [p.step for p in b.probes]
    for p, q in zip(a.probes, b.probes):
        np.testing.assert_array_equal(p.ages, q.ages)
        _close(p.errors, q.errors, PROBE_RTOL, PROBE_ATOL)
    assert [s.step for s in a.snapshots] == [s.step for s in b.snapshots]
    for s, t in zip(a.snapshots, b.snapshots):
        for x, y in zip(s.weights + s.updates, t.weights + t.updates):
            _close(x, y)
    assert [s.step for s in a.states] == [s.step for s in b.states]
    for s, t in zip(a.states, b.states):
        assert set(s.tensors) == set(t.tensors)
        for k in s.tensors:
            if s.tensors[k].dtype.kind in "iuUS":       # counters, RNG, written, config
                np.testing.assert_array_equal(s.tensors[k], t.tensors[k], err_msg=k)
            else:
                _close(s.tensors[k], t.tensors[k])
    assert [(e.step, e.variant) for e in a.evals] == [(e.step, e.variant) for e in b.evals]
    for e, f in zip(a.evals, b.evals):
        _close(e.losses, f.losses)
        _close(e.copy, f.copy)
    assert [(e.step, e.kind, e.detail) for e in a.events] == \
        [(e.step, e.kind, e.detail) for e in b.events]


def _check_against_singles(config) -> SeedBatch:
    batch = SeedBatch(config, SEEDS)
    got = [batch.step(n) for n in CALLS]                   # [call][run]
    for i, seed in enumerate(SEEDS):
        single = Session(config.replace("run.seed", seed))
        for call, n in enumerate(CALLS):
            _assert_same(got[call][i], single.step(n))
    totals = [sum(len(b.snapshots) + len(b.states) + len(b.evals) for b in c) for c in got]
    assert sum(totals) > 0
    return batch


def test_random_weights_equal_single_sessions():
    config = _config("tiny", "random")
    batch = _check_against_singles(config)
    # every seed drew its own starting weights: the batched model holds one per run
    assert batch.model.w_in.shape[0] == len(SEEDS) and batch.model.w_in.dim() == 3
    assert not torch.equal(batch.model.w_in[0], batch.model.w_in[1])


def test_random_weights_chunked_titans_equal_single_sessions():
    _check_against_singles(_config("tiny", "random", "model.titans.chunk_size=4"))


def test_checkpoint_equal_single_sessions():
    config = _config("default", None)
    assert config.model.weights, "the default preset ships a trained checkpoint"
    batch = _check_against_singles(config)
    assert batch.model.w_in.dim() == 2                    # one set of slow weights, shared
    assert batch.sessions[0].model_identity == Session(config).model_identity


def test_state_of_a_run_restores_in_a_single_session():
    config = _config("tiny", "random")
    batch = SeedBatch(config, SEEDS)
    first = batch.step(64)
    state = first[1].states[-1]
    assert state.step == 63
    single = Session(config.replace("run.seed", SEEDS[1]))
    single.load_state(state.tensors)
    a, b = batch.step(40)[1], single.step(40)
    np.testing.assert_array_equal(a.step, b.step)
    np.testing.assert_array_equal(a.inputs, b.inputs)
    _close(a.level, b.level)
    _close(a.scalars, b.scalars)


def test_nan_in_one_run_keeps_every_runs_data():
    config = _config("tiny", "random")
    batch = SeedBatch(config, SEEDS)
    batch.step(20)
    bank = batch.model.titans.bank
    w2 = bank.w2.clone()
    w2[1] = float("nan")                                  # run 1 (seed 6) breaks
    bank.set_params([bank.w1, w2] if bank.w1 is not None else [w2])
    with pytest.raises(SeedFault) as info:
        batch.step(30)
    fault = info.value
    assert set(fault.faults) == {1} and "seed 6" in str(fault)
    assert [len(b) for b in fault.batches] == [30, 1, 30]
    for i in (0, 2):
        assert np.isfinite(fault.batches[i].scalars[:, :2]).all()
        np.testing.assert_array_equal(fault.batches[i].step, np.arange(20, 50))
    assert fault.step == 20 and fault.batch is fault.batches[1]


@pytest.mark.parametrize("seeds, needle", [
    ((), "at least one seed"),
    ((3, 4, 3), "repeats a seed"),
])
def test_bad_seeds_are_refused(seeds, needle):
    with pytest.raises(ConfigError, match=needle):
        SeedBatch(_config("tiny", "random"), seeds)


def test_lmm_variant_is_refused():
    with pytest.raises(ConfigError, match=r"model\.titans\.variant=lmm"):
        SeedBatch(_config("tiny", "random", "model.titans.variant=lmm"), (0, 1))


def test_start_from_takes_per_run_weights_but_not_per_run_gates():
    from engine.model import HOPE
    config = _config("tiny", "random")
    models = [HOPE(config.model, s, torch.device("cpu")) for s in (0, 1)]
    per_run = {k: torch.stack([m.slow_weights()[k] for m in models])
               for k in models[0].slow_weights()}
    per_run["titans/gate_shift"] = models[0].slow_weights()["titans/gate_shift"]
    batched = HOPE(config.model, 0, torch.device("cpu"))
    batched.start_from(per_run, batch=2)
    assert batched.titans.bank.w2.shape[0] == 2
    torch.testing.assert_close(batched.titans.bank.w2[1], models[1].titans.bank.w2)
    torch.testing.assert_close(batched.cms.levels[0].w1[0], models[0].cms.levels[0].w1)
    per_run["titans/gate_shift"] = torch.zeros(2, 2)
    with pytest.raises(ValueError, match="gate_shift"):
        batched.start_from(per_run, batch=2)
    with pytest.raises(ValueError, match="w_in"):           # per-run needs batch
        models[0].start_from({**models[0].slow_weights(), "w_in": per_run["w_in"]})
