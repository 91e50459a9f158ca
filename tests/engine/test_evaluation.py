"""Frozen evaluation on held-out windows and the knock-out / restore ablations, against
hand computations, saved states and the run's own model (which must not change)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.commands import Ablate, SetParam
from engine.config import CMSConfig, ConfigError, StreamConfig
from engine.evaluation import HELDOUT_T0, evaluate, frozen_loss, heldout_windows
from engine.session import Session
from engine.streams import make_stream
from tests.engine.hope_helpers import session_config, titans_cfg

REGIME = StreamConfig("regime_shift", (("switch_every", 40), ("n_regimes", 3)))


def _session(**run_kw) -> Session:
    return Session(session_config(titans_cfg(hidden=5, chunk_size=4),
                                  CMSConfig(periods=(2, 8), hidden=5), stream=REGIME,
                                  eval_window=16, **run_kw))


def _silu(z: np.ndarray) -> np.ndarray:
    return z / (1 + np.exp(-z))


def _hand_losses(s: Session, x: np.ndarray, knockout: str | None = None,
                 cms_weights: dict[int, tuple[np.ndarray, np.ndarray]] | None = None
                 ) -> np.ndarray:
    """Per-position next-step losses of window x (n, d_in), computed in numpy from the
    weights: o = M_memory(normalize(W_q x)), the CMS chain, y -> W_out y vs x_{t+1}."""
    m = s.model
    t = m.titans
    w_in, w_out, w_q = (a.double().numpy() for a in (m.w_in, m.w_out, t.w_q))
    w1, w2 = (a.double().numpy() for a in (t.bank.w1, t.bank.w2))  # (B, d, h), (B, h, d)
    h = w_in @ x.T                                                  # (d, n)
    q = w_q @ h
    q = q / np.maximum(np.linalg.norm(q, axis=0, keepdims=True), 1e-8)
    o = q + w1[0] @ _silu(w2[0] @ q)                                # memory: residual MLP
    if knockout == "memory":
        o = np.zeros_like(o)
    u = h + o if m.cfg.residual else o
    for i, lv in enumerate(m.cms.levels):
        if knockout == f"cms{i + 1}":
            continue
        a1, a2 = (cms_weights or {}).get(i, (lv.w1.double().numpy(), lv.w2.double().numpy()))
        u = u + a1 @ _silu(a2 @ u)
    err = (w_out @ u)[:, :-1] - x[1:].T
    return 0.5 * np.square(err).sum(0)                              # (n-1,)


def test_heldout_windows_hold_one_regime_each_from_steps_no_run_reaches():
    stream = make_stream(REGIME, 6, 0)
    w = heldout_windows(stream, 16)
    assert w.n_regimes == 3
    for r in range(3):
        assert w.x[r].shape == (16, 6) and w.mask[r].all()
        # the window is the stream itself at a step from 2^40 on, labelled r
        s = stream.sample(HELDOUT_T0, 200)
        start = int(np.argmax(s.regime == r))
        np.testing.assert_array_equal(w.x[r], s.x[start:start + 16])


def test_frozen_loss_equals_a_hand_computation_and_changes_nothing():
    s = _session()
    s.step(37)                                          # mid-chunk, CMS sums pending
    snap = {k: v.clone() for k, v in vars(s.model).items() if isinstance(v, torch.Tensor)}
    bank = [p.clone() for p in s.model.titans.bank.params()]
    cms = [(lv.w1.clone(), lv.w2.clone(), lv.g1.clone(), lv.sq.clone()) for lv in s.model.cms.levels]
    pending, count, prev_o = len(s.model.pending), s.model.count, s.model.prev_o.clone()
    x = heldout_windows(s.stream, 16).x[1]
    got = frozen_loss(s.model, x)
    want = _hand_losses(s, x.astype(np.float64)).mean()
    np.testing.assert_allclose(got, want, rtol=1e-9)
    for k, v in snap.items():
        assert torch.equal(getattr(s.model, k), v), k
    assert all(torch.equal(a, b) for a, b in zip(bank, s.model.titans.bank.params()))
    for (w1, w2, g1, sq), lv in zip(cms, s.model.cms.levels):
        assert torch.equal(w1, lv.w1) and torch.equal(w2, lv.w2)
        assert torch.equal(g1, lv.g1) and torch.equal(sq, lv.sq)
    assert (len(s.model.pending), s.model.count) == (pending, count)
    assert torch.equal(prev_o, s.model.prev_o)


def test_evaluation_leaves_the_state_dict_bit_identical():
    s = _session()
    s.step(40)                                          # a chunk boundary: state_dict works
    before = {k: np.array(v, copy=True) for k, v in s.state_dict().items()}
    evaluate(s.model, s.heldout(), 39)
    s.apply(Ablate("cms1"))
    s.apply(Ablate("memory", restore_step=39))
    after = s.state_dict()
    assert before.keys() == after.keys()
    for k in before:
        np.testing.assert_array_equal(before[k], after[k], err_msg=k)
    # and the run continues exactly as one that never evaluated
    ref = _session(eval_every=0)
    ref.step(40)
    np.testing.assert_array_equal(s.step(20).level, ref.step(20).level)


def test_recorded_matrix_equals_a_direct_evaluation_of_saved_states(tmp_path):
    from nlviz.recording.reader import Recording
    from nlviz.recording.writer import Recorder

    s = _session(eval_every=32, state_every=32)
    path = tmp_path / "run.h5"
    with Recorder(path, s.spec, s.config.to_dict(), device=s.device_name,
                  stream=s.stream_description, state_template=s.state_dict()) as rec:
        for n in (50, 50, 60):
            rec.append(s.step(n))
    with Recording.open(path) as rec:
        evals = rec.evals()
        assert [e.step for e in evals] == [31, 63, 95, 127, 159] == list(rec.state_steps())
        for e in evals:
            fresh = _session(eval_every=32, state_every=32)
            fresh.load_state(rec.state_at_or_before(e.step).tensors)
            direct = evaluate(fresh.model, fresh.heldout(), e.step)
            assert e.variant == "" and e.losses.shape == (3,) and np.isfinite(e.losses).all()
            np.testing.assert_allclose(e.losses, direct.losses, rtol=1e-6)
            np.testing.assert_allclose(e.copy, direct.copy, rtol=1e-6)
        assert not np.allclose(evals[0].losses, evals[-1].losses)    # it does learn / change


def test_knockout_changes_the_losses_and_equals_the_hand_computation():
    s = _session()
    s.step(64)
    ev = s.apply(Ablate("cms2"))
    assert ev.kind == "ablation" and ev.data["level"] == "cms2"
    ev = s.apply(Ablate("memory"))
    recs = s.step(1).evals
    assert [r.variant for r in recs] == ["", "knockout:cms2", "", "knockout:memory"]
    assert all(r.step == 63 for r in recs)
    w = heldout_windows(s.stream, 16)
    s2 = _session()
    s2.step(64)                                         # the state the ablations saw
    for rec, level in ((recs[1], "cms2"), (recs[3], "memory")):
        hand = [_hand_losses(s2, w.x[r].astype(np.float64), knockout=level).mean()
                for r in range(3)]
        np.testing.assert_allclose(rec.losses, hand, rtol=1e-5)
        assert not np.allclose(rec.losses, recs[0].losses, rtol=1e-3)
    intact = [_hand_losses(s2, w.x[r].astype(np.float64)).mean() for r in range(3)]
    np.testing.assert_allclose(recs[0].losses, intact, rtol=1e-5)


def test_restore_to_the_current_step_equals_intact_and_to_an_old_step_uses_its_weights():
    s = _session(state_every=16)
    s.step(48)
    old = next(k for k in s.kept_states if k.step == 15).tensors
    s.apply(Ablate("cms1", restore_step=47))            # the current state
    s.apply(Ablate("cms1", restore_step=15))
    recs = s.step(1).evals
    assert [r.variant for r in recs] == ["", "restore:cms1@47", "", "restore:cms1@15"]
    np.testing.assert_array_equal(recs[1].losses, recs[0].losses)
    s2 = _session(state_every=16)
    s2.step(48)
    w = heldout_windows(s.stream, 16)
    weights = {0: (old["model/cms0/w1"].astype(np.float64), old["model/cms0/w2"].astype(np.float64))}
    hand = [_hand_losses(s2, w.x[r].astype(np.float64), cms_weights=weights).mean()
            for r in range(3)]
    np.testing.assert_allclose(recs[3].losses, hand, rtol=1e-5)
    assert not np.allclose(recs[3].losses, recs[2].losses, rtol=1e-4)


def test_an_unknown_step_or_level_is_an_error_event_not_a_crash():
    s = _session(state_every=16)
    s.step(40)
    ev = s.apply(Ablate("cms1", restore_step=20))
    assert ev.kind == "error" and ev.detail == \
        "ablate cms1: no kept state at step 20 (kept: 15, 31)"
    ev = s.apply(Ablate("nope"))
    assert ev.kind == "error" and "unknown level 'nope'" in ev.detail
    b = s.step(1)
    assert b.evals == [] and [e.kind for e in b.events] == ["error", "error"]


def test_only_the_newest_32_states_are_kept():
    s = _session(state_every=4)
    s.step(4 * 40)
    assert [k.step for k in s.kept_states] == [4 * i - 1 for i in range(9, 41)]


@pytest.mark.parametrize(("key", "value", "message"), [
    ("run.eval_every", -1, "run.eval_every: -1 must be an integer >= 0"),
    ("run.eval_every", 1.5, "run.eval_every: 1.5 must be an integer"),
    ("run.eval_window", 1, "run.eval_window: 1 must be an integer >= 2"),
    ("run.eval_window", 1 << 20, "run.eval_window: 1048576 is too large (at most 65536)"),
])
def test_eval_settings_are_checked_with_one_line_naming_the_field(key, value, message):
    s = _session()
    with pytest.raises(ConfigError) as info:
        s.apply(SetParam(key, value))
    assert str(info.value) == message


def test_eval_cadence_is_live_and_zero_turns_it_off():
    s = _session(eval_every=10)
    assert [e.step for e in s.step(25).evals] == [9, 19]
    s.apply(SetParam("run.eval_every", 0))
    assert s.step(30).evals == []
