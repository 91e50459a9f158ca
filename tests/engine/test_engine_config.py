"""Configuration: unknown keys and out-of-range values are rejected with a message that
names the key; the shipped presets load; the dict round trip is lossless."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.config import CMSConfig, Config, ConfigError, ModelConfig, TitansConfig
from engine.frames import LEVEL_METRICS
from engine.session import Session


def _from(section: dict) -> Config:
    return Config.from_dict(section)


@pytest.mark.parametrize("data,key", [
    ({"bogus": 1}, "bogus"),
    ({"model": {"widht": 3}}, "model.widht"),
    ({"model": {"titans": {"lrr": 0.1}}}, "model.titans.lrr"),
    ({"model": {"cms": {"period": [4]}}}, "model.cms.period"),
    ({"run": {"sede": 1}}, "run.sede"),
])
def test_unknown_keys_rejected_naming_key(data, key):
    with pytest.raises(ConfigError) as info:
        _from(data)
    msg = str(info.value)
    assert msg.startswith(key + ":") and "unknown key" in msg


@pytest.mark.parametrize("path,value", [
    ("model.d_in", 0),
    ("model.d", -3),
    ("model.d", 2.5),
    ("model.dtype", "float16"),
    ("model.titans.variant", "mag"),
    ("model.titans.hidden", 0),
    ("model.titans.kind", "conv"),
    ("model.titans.chunk_size", 0),
    ("model.titans.update_rule", "literal92"),
    ("model.titans.momentum", 1.0),
    ("model.titans.momentum", -0.1),
    ("model.titans.gates", "learned"),
    ("model.titans.lr", -0.01),
    ("model.titans.lr", float("nan")),
    ("model.titans.lr", 0.6),            # adaptive gates: lr must be < lr_max (0.5)
    ("model.titans.lr_max", 1000.0),
    ("model.titans.retention", 1.5),
    ("model.titans.retention", 1.0),     # adaptive gates need retention in (0, 1)
    ("model.titans.proximal", 1),
    ("model.titans.init_scale", -1.0),
    ("model.cms.periods", [4, 0]),
    ("model.cms.hidden", 0),
    ("model.cms.lr", [0.1, 0.2]),        # 2 values for 3 levels
    ("model.cms.lr", -1.0),
    ("model.cms.retention", -0.5),
    ("model.cms.objective", "contrastive"),
    ("run.seed", -1),
    ("run.device", "tpu"),
    ("run.probe_every", 0),
    ("run.state_every", -2),
    ("stream.name", "sine"),
])
def test_out_of_range_values_rejected_naming_key(path, value):
    with pytest.raises(ConfigError) as info:
        Config().replace(path, value)
    msg = str(info.value)
    assert path.split(".")[-1] in msg and msg.startswith(path.rsplit(".", 1)[0]), msg
    assert msg.split(":")[0].startswith(path), msg


def test_fixed_gates_allow_exact_zero_and_one():
    cfg = Config().replace("model.titans.gates", "fixed")
    for path, value in (("model.titans.lr", 0.0), ("model.titans.retention", 0.0),
                        ("model.titans.retention", 1.0)):
        assert cfg.replace(path, value) is not None


def test_dict_round_trip():
    cfg = Config(model=ModelConfig(d_in=5, d=7, dtype="float64",
                                   titans=TitansConfig(chunk_size=4, momentum=0.0),
                                   cms=CMSConfig(periods=(3, 9), lr=(0.1, 0.01))))
    cfg = cfg.replace("stream.switch_every", 33)
    again = Config.from_dict(cfg.to_dict())
    assert again == cfg
    assert again.stream.param_dict() == {"switch_every": 33}
    assert again.model.cms.lrs() == (0.1, 0.01)


def test_shipped_presets_are_package_data_of_nlviz():
    import nlviz
    from nlviz.config_loader import PRESET_DIR, preset_names, preset_path

    # nlviz/presets/, inside the package: a wheel carries them (tests/test_wheel.py)
    assert Path(nlviz.__file__).parent / "presets" == PRESET_DIR
    assert preset_names() == ["consolidation", "default", "tiny"]
    assert preset_path("tiny") == PRESET_DIR / "tiny.toml"


@pytest.mark.parametrize("preset", ["default", "tiny", "consolidation"])
def test_presets_load_and_run(preset):
    from nlviz.config_loader import load_config

    cfg = load_config(preset, device="cpu")
    assert isinstance(cfg, Config)
    cfg.validate()
    batch = Session(cfg).step(20)
    assert batch.level.shape == (20, len(cfg.model.cms.periods) + 5, len(LEVEL_METRICS))
    _assert_finite_except_steering_contribution(batch.level)


def test_preset_values():
    from nlviz.config_loader import load_config

    tiny = load_config("tiny")
    assert tiny.model.d == 8 and tiny.run.device == "cpu" and tiny.model.cms.periods == (2, 4)
    cons = load_config("consolidation")
    assert cons.model.cms.periods == (16, 128, 1024)
    assert cons.stream.param_dict()["n_regimes"] == 3
    default = load_config("default")
    assert default.model.titans.update_rule == "delta" and default.model.cms.objective == \
        "next_step"


def test_load_config_overrides_name_the_key():
    from nlviz.config_loader import load_config
    from nlviz.errors import UserError

    cfg = load_config("tiny", overrides=["model.titans.lr=0.1", "model.cms.periods=[3, 6]"])
    assert cfg.model.titans.lr == 0.1 and cfg.model.cms.periods == (3, 6)
    with pytest.raises(UserError, match=r"model\.titans\.nope"):
        load_config("tiny", overrides=["model.titans.nope=1"])
    with pytest.raises(UserError, match=r"model\.cms\.retention"):
        load_config("tiny", overrides=["model.cms.retention=2"])


# ---- upper bounds: nothing that passes validation overflows or fails later --------------
@pytest.mark.parametrize("path,value,message", [
    ("model.d_in", 2**24 + 1, "model.d_in: 16777217 is too large (at most 16777216)"),
    ("model.d", 10**20, "model.d: 100000000000000000000 is too large (at most 16777216)"),
    ("model.titans.hidden", 2**24 + 1,
     "model.titans.hidden: 16777217 is too large (at most 16777216)"),
    ("model.titans.chunk_size", 2**20 + 1,
     "model.titans.chunk_size: 1048577 is too large (at most 1048576)"),
    ("model.cms.hidden", 2**30, "model.cms.hidden: 1073741824 is too large (at most 16777216)"),
    ("model.cms.periods", [4, 99999999999999999999],
     "model.cms.periods[1]: 99999999999999999999 is too large (at most 2147483647)"),
    ("model.cms.periods", [2**31], "model.cms.periods[0]: 2147483648 is too large "
                                   "(at most 2147483647)"),
    ("model.cms.periods", list(range(1, 66)), "model.cms.periods: 65 levels, at most 64"),
    ("run.seed", 2**70, "run.seed: 1180591620717411303424 is too large "
                        "(at most 9223372036854775807)"),
    ("run.seed", -1, "run.seed: -1 must be an integer >= 0"),
    ("run.probe_every", 2**31, "run.probe_every: 2147483648 is too large (at most 2147483647)"),
    ("run.probe_size", 2**20 + 1, "run.probe_size: 1048577 is too large (at most 1048576)"),
    ("run.snapshot_every", 2**40, "run.snapshot_every: 1099511627776 is too large "
                                  "(at most 2147483647)"),
    ("run.snapshot_max", 4097, "run.snapshot_max: 4097 is too large (at most 4096)"),
    ("run.state_every", 2**31, "run.state_every: 2147483648 is too large (at most 2147483647)"),
    ("run.diag_every", 2**63, "run.diag_every: 9223372036854775808 is too large "
                              "(at most 2147483647)"),
    ("run.threads", 1025, "run.threads: 1025 is too large (at most 1024)"),
    ("model.titans.lr", 10**400, "model.titans.lr: 10000000000000000000...00000000 "
                                 "(401 characters) is too large for a number"),
])
def test_values_past_the_caps_are_refused_with_the_cap(path, value, message):
    with pytest.raises(ConfigError) as info:
        Config().replace(path, value)
    assert str(info.value) == message


def test_values_at_the_caps_are_accepted():
    cfg = Config()
    for path, value in (("run.seed", 2**63 - 1), ("model.cms.periods", [2**31 - 1]),
                        ("run.probe_every", 2**31 - 1), ("run.state_every", 2**31 - 1),
                        ("model.cms.periods", list(range(1, 65))), ("run.snapshot_max", 4096)):
        assert cfg.replace(path, value) is not None


def test_largest_seed_and_period_run():
    cfg = Config.from_dict({"model": {"d_in": 4, "d": 4, "titans": {"hidden": 4},
                                      "cms": {"periods": [2, 2**31 - 1], "hidden": 4}},
                            "run": {"device": "cpu", "seed": 2**63 - 1, "probe_every": 2**31 - 1,
                                    "state_every": 2**31 - 1}})
    batch = Session(cfg).step(6)
    assert batch.fired[:, -1].tolist() == [0] * 6              # the slow level never fires
    assert batch.fired[:, -2].tolist() == [0, 1, 0, 1, 0, 1]   # period 2
    _assert_finite_except_steering_contribution(batch.level)


# ---- no CMS levels: the documented "empty disables the CMS" works end to end ------------
def test_empty_cms_periods_run_save_and_restore():
    cfg = Config().replace("run.device", "cpu").replace("model.cms.periods", [])
    s = Session(cfg)
    assert [lv.name for lv in s.spec.levels] == ["memory", "k", "v", "eta", "alpha"]
    first = s.step(70)                                 # probes (every 64) run too
    assert first.level.shape == (70, 5, len(LEVEL_METRICS))
    _assert_finite_except_steering_contribution(first.level)
    assert len(first.probes) == 1 and first.probes[0].errors.shape == (5, 64)
    state = s.state_dict()
    assert all(np.asarray(v).size for v in state.values())   # recordable: no empty array
    a = s.step(10)
    again = Session(cfg)
    again.load_state(state)
    b = again.step(10)
    np.testing.assert_array_equal(a.level, b.level)


def test_empty_cms_periods_accept_a_preset_lr_list():
    from nlviz.config_loader import load_config

    cfg = load_config("consolidation", ["model.cms.periods=[]"], device="cpu")
    assert cfg.model.cms.periods == () and cfg.model.cms.lrs() == ()
    assert Session(cfg).step(3).level.shape == (3, 5, len(LEVEL_METRICS))


def test_load_config_names_the_preset_only_for_its_own_values(tmp_path):
    from nlviz.config_loader import load_config
    from nlviz.errors import UserError

    bad = tmp_path / "bad.toml"
    bad.write_text("[model]\nd = 0\n")
    with pytest.raises(UserError) as info:
        load_config(str(bad))
    assert str(info.value) == "bad.toml: model.d: 0 must be an integer >= 1"
    with pytest.raises(UserError) as info:
        load_config("tiny", seed=2**64)
    assert str(info.value) == ("run.seed: 18446744073709551616 is too large "
                               "(at most 9223372036854775807)")
    with pytest.raises(UserError) as info:
        load_config("tiny", ["model.cms.periods=[0]"])
    assert str(info.value) == "model.cms.periods[0]: 0 must be an integer >= 1"


def _assert_finite_except_steering_contribution(level: np.ndarray) -> None:
    """Every value finite but the contribution of the k, v, eta, alpha memories (NaN: they
    steer the memory and add nothing to the residual stream)."""
    c = LEVEL_METRICS.index("contribution")
    steer = np.zeros(level.shape[1:], bool)
    steer[1:5, c] = True
    assert np.isfinite(level[:, ~steer]).all()
    assert np.isnan(level[:, steer]).all()
