"""Each engine component owns its state: names are stable (recordings store them), a state
loaded into a fresh model continues bit for bit, and a loaded state is a copy."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.config import CMSConfig, ConfigError, TitansConfig
from engine.session import Session
from tests.engine.hope_helpers import make_model, rand_tokens, session_config, titans_cfg

CMS = CMSConfig(periods=(3, 16), hidden=5)
LEVEL_STATE = ["g1", "g2", "last_update", "sq", "w1", "w2", "w_norm"]


def _run(model, x: torch.Tensor, chunk: int) -> list[torch.Tensor]:
    """Step ``model`` through x (n, d_in) in pieces that respect the Titans chunks."""
    out, done = [], 0
    while done < len(x):
        m = min(model.chunk_room(), chunk, len(x) - done)
        met, sc, _, y = model.step(x[done:done + m])
        out += [met, sc, y]
        done += m
    return out


@pytest.mark.parametrize("kind", ["mlp", "linear"])
def test_state_names_are_the_recorded_ones(kind):
    model = make_model(TitansConfig(hidden=5, kind=kind, chunk_size=4), CMS)
    names = sorted(model.state_dict())
    titans = ["last_update", "mom0", "w2", "w_norm"] if kind == "linear" else \
        ["last_update", "mom0", "mom1", "w1", "w2", "w_norm"]
    assert names == sorted([f"titans/{n}" for n in titans] + ["prev_o"]
                           + [f"cms{i}/{n}" for i in (0, 1) for n in LEVEL_STATE])
    assert sorted(model.titans.state_dict()) == titans
    assert sorted(model.cms.levels[1].state_dict()) == LEVEL_STATE


@pytest.mark.parametrize("k", [8, 12])      # 12: CMS gradients pending in the level of period 16
def test_model_state_loaded_into_a_fresh_model_continues_bit_for_bit(k):
    cfg = (titans_cfg(hidden=5, chunk_size=4), CMS)
    x = rand_tokens(k + 40, 6)
    a = make_model(*cfg)
    _run(a, x[:k], 3)
    saved = {n: t.clone() for n, t in a.state_dict().items()}
    b = make_model(*cfg)                     # fresh: the seed fixes projections and W_0
    assert not torch.equal(b.state_dict()["titans/w2"], saved["titans/w2"])
    b.load_state_dict(saved, a.count)
    assert b.count == k and b.pending == []
    for got, want in zip(_run(b, x[k:], 5), _run(a, x[k:], 5)):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    for name, t in a.state_dict().items():
        torch.testing.assert_close(b.state_dict()[name], t, rtol=0, atol=0, msg=name)


def test_loaded_state_is_a_copy():
    a = make_model(titans_cfg(hidden=5, chunk_size=4), CMS)
    _run(a, rand_tokens(8, 6), 4)
    saved = {n: t.clone() for n, t in a.state_dict().items()}
    before = {n: t.clone() for n, t in saved.items()}
    b = make_model(titans_cfg(hidden=5, chunk_size=4), CMS)
    b.load_state_dict(saved, 8)
    _run(b, rand_tokens(24, 6, seed=3), 4)   # in-place updates of weights and gradient sums
    for name, t in saved.items():
        torch.testing.assert_close(t, before[name], rtol=0, atol=0, equal_nan=True, msg=name)
    assert not torch.equal(b.titans.bank.w2, saved["titans/w2"])


def test_prev_o_nan_sentinel_means_none():
    a = make_model(titans_cfg(hidden=5, chunk_size=4), CMS)
    state = a.state_dict()
    assert torch.isnan(state["prev_o"]).all() and state["prev_o"].shape == (6, 1)
    b = make_model(titans_cfg(hidden=5, chunk_size=4), CMS)
    _run(b, rand_tokens(4, 6), 4)
    assert b.prev_o is not None
    b.load_state_dict(state, 0)
    assert b.prev_o is None


def test_model_state_refused_inside_a_titans_chunk():
    a = make_model(titans_cfg(hidden=5, chunk_size=4), CMS)
    _run(a, rand_tokens(5, 6), 5)
    with pytest.raises(RuntimeError, match="chunk boundary"):
        a.state_dict()


def test_session_state_names_and_errors_name_the_tensor():
    cfg = session_config(titans_cfg(hidden=5, chunk_size=4), CMS)
    s = Session(cfg)
    s.step(8)
    state = s.state_dict()
    assert {"step_count", "model_count", "origin", "config_json", "model/titans/w2",
            "model/cms1/g2", "model/prev_o"} <= set(state)
    assert int(state["step_count"]) == 8 and int(state["model_count"]) == 8
    missing = {k: v for k, v in state.items() if k != "model/cms0/sq"}
    with pytest.raises(ConfigError, match="state: missing model/cms0/sq"):
        Session(cfg).load_state(missing)
    wrong = dict(state, **{"model/titans/w2": np.zeros((2, 2))})
    with pytest.raises(ConfigError, match=r"state: model/titans/w2 has shape \(2, 2\), expected"):
        Session(cfg).load_state(wrong)


def test_run_spec_names_the_regimes_but_equality_ignores_them():
    from dataclasses import replace

    from engine.commands import SwitchStream
    from engine.config import StreamConfig
    s = Session(session_config(titans_cfg(hidden=5, chunk_size=4), CMS))
    assert s.spec.regime_names == s.regime_names and len(s.regime_names) >= 2
    before = s.spec
    s.apply(SwitchStream(StreamConfig("noise")))
    assert s.spec is before                          # a switch keeps the recorded layout
    assert replace(before, regime_names=("x",)) == before
