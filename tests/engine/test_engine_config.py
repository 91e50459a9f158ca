"""Configuration: unknown keys and out-of-range values are rejected with a message that
names the key; the shipped presets load; the dict round trip is lossless."""
from __future__ import annotations

import numpy as np
import pytest

from engine.config import CMSConfig, Config, ConfigError, ModelConfig, TitansConfig
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


@pytest.mark.parametrize("preset", ["default", "tiny", "consolidation"])
def test_presets_load_and_run(preset):
    from nlviz.config_loader import load_config

    cfg = load_config(preset, device="cpu")
    assert isinstance(cfg, Config)
    cfg.validate()
    batch = Session(cfg).step(20)
    assert batch.level.shape == (20, len(cfg.model.cms.periods) + 5, 8)
    assert np.isfinite(batch.level).all()


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
