"""``--device auto`` follows measurements (fakes here: no GPU, no timing), says why, caches."""
from __future__ import annotations

import pytest
import torch

from engine import device_choice
from engine.device import resolve_device
from engine.device_choice import cache_key, choose_device, describe_choice, measure_session
from engine.session import Session
from nlviz.config_loader import load_config


@pytest.fixture(autouse=True)
def _fresh_cache():
    device_choice.clear_cache()
    yield
    device_choice.clear_cache()


class FakeMeasure:
    """Steps/s per kind from a table; counts calls."""

    def __init__(self, rates: dict[str, float]) -> None:
        self.rates, self.calls = rates, []

    def __call__(self, config, kind: str) -> float:
        self.calls.append(kind)
        if isinstance(self.rates[kind], Exception):
            raise self.rates[kind]
        return self.rates[kind]


def test_auto_takes_the_faster_device_and_says_why():
    cfg = load_config("tiny")
    m = FakeMeasure({"cpu": 1210.4, "cuda": 480.0})
    c = resolve_device("auto", cfg, kinds=("cpu", "cuda"), measure=m)
    assert c.device == torch.device("cpu") and c.name == "CPU" and c.note is None
    assert c.reason == "auto: CPU, 1,210 steps/s against CUDA 480 steps/s measured at start"
    assert c.rates == (("cpu", 1210.4), ("cuda", 480.0))
    assert m.calls == ["cpu", "cuda"]

    device_choice.clear_cache()
    m = FakeMeasure({"cpu": 1210.0, "cuda": 52000.0})
    c = resolve_device("auto", cfg, kinds=("cpu", "cuda"), measure=m)
    assert c.device.type == "cuda" and c.name.startswith("CUDA")
    assert c.reason == "auto: CUDA, 52,000 steps/s against CPU 1,210 steps/s measured at start"


def test_a_tie_goes_to_the_cpu():
    c = choose_device(load_config("tiny"), ("cpu", "cuda"), FakeMeasure({"cpu": 7, "cuda": 7}))
    assert c.device.type == "cpu"


def test_a_device_that_fails_to_measure_is_left_out_with_its_reason():
    m = FakeMeasure({"cpu": 900.0, "cuda": RuntimeError("CUDA out of memory\nmore")})
    c = choose_device(load_config("tiny"), ("cpu", "cuda"), m)
    assert c.device.type == "cpu"
    assert c.reason == ("auto: CPU, 900 steps/s measured at start; "
                        "CUDA failed (RuntimeError: CUDA out of memory)")
    m = FakeMeasure({"cpu": ValueError("x"), "cuda": RuntimeError("y")})
    device_choice.clear_cache()
    c = choose_device(load_config("tiny"), ("cpu", "cuda"), m)
    assert c.device.type == "cpu" and c.reason == "auto: CPU, measuring failed on every device"


def test_measured_once_per_config_and_engine():
    cfg = load_config("tiny")
    m = FakeMeasure({"cpu": 2.0, "cuda": 1.0})
    first = choose_device(cfg, ("cpu", "cuda"), m)
    # same sizes and engine (another seed): cached
    again = choose_device(cfg.replace("run.seed", 5), ("cpu", "cuda"), m)
    assert again is first and m.calls == ["cpu", "cuda"]
    choose_device(cfg.replace("run.engine", "compiled"), ("cpu", "cuda"), m)
    assert m.calls == ["cpu", "cuda"] * 2
    choose_device(cfg.replace("model.d", cfg.model.d * 2), ("cpu", "cuda"), m)
    assert m.calls == ["cpu", "cuda"] * 3
    choose_device(cfg, ("cpu", "mps"), FakeMeasure({"cpu": 1.0, "mps": 3.0}))
    assert cache_key(cfg, ("cpu", "mps")) != cache_key(cfg, ("cpu", "cuda"))


def test_weights_path_is_not_part_of_the_key():
    cfg = load_config("tiny")
    d = cfg.to_dict()
    d["model"]["weights"] = "somewhere/else.pt"
    from engine.config import Config
    other = Config.from_dict(d)
    assert cache_key(other, ("cpu",)) == cache_key(cfg, ("cpu",))


def test_explicit_requests_never_measure():
    def boom(config, kind):
        raise AssertionError("measured")
    cfg = load_config("tiny")
    c = resolve_device("cpu", cfg, kinds=("cpu", "cuda"), measure=boom)
    assert (c.device.type, c.name, c.note, c.reason) == ("cpu", "CPU", None, "requested")
    c = resolve_device("cuda", cfg, kinds=("cpu",), measure=boom)
    assert c.device.type == "cpu" and c.name == "CPU"
    assert c.note == "CUDA requested but not available; running on the CPU"
    assert c.reason == "cuda requested, not available"
    c = resolve_device("mps", cfg, kinds=("cpu",), measure=boom)
    assert c.note == "MPS requested but not available; running on the CPU"


def test_only_device_is_not_measured():
    def boom(config, kind):
        raise AssertionError("measured")
    c = resolve_device("auto", load_config("tiny"), kinds=("cpu",), measure=boom)
    assert (c.device.type, c.reason, c.rates) == ("cpu", "auto: CPU, the only device", ())


def test_describe_choice_lists_every_other_device():
    text = describe_choice("cuda", {"cpu": 1000.0, "cuda": 5e4, "mps": 2500.4}, {})
    assert text == ("auto: CUDA, 50,000 steps/s against CPU 1,000 steps/s, "
                    "MPS 2,500 steps/s measured at start")


def test_session_reports_its_choice():
    s = Session(load_config("tiny", device="auto"))   # this machine: the CPU only, or measured
    assert s.device_reason.startswith("auto: ")
    assert s.device_choice.device == s.device
    s = Session(load_config("tiny", device="cpu"))
    assert (s.device_name, s.device_note, s.device_reason) == ("CPU", None, "requested")


def test_session_rebuild_with_new_sizes_measures_again_same_sizes_do_not(monkeypatch):
    calls = []

    def fake(name, config=None, **kw):
        calls.append(name)
        return resolve_device("cpu", config)
    monkeypatch.setattr("engine.session.resolve_device", fake)
    cfg = load_config("tiny", device="auto")
    s = Session(cfg)
    s.rebuild(cfg.replace("run.seed", 3))                     # a Reset-like rebuild
    assert calls == ["auto"]
    s.rebuild(cfg.replace("model.d", cfg.model.d * 2))        # another size: measure it
    assert calls == ["auto", "auto"]


def test_measure_session_runs_the_engine_on_the_cpu():
    """The real measurement (no timing asserted): a positive finite rate."""
    rate = measure_session(load_config("tiny", ["run.block=8"]), "cpu", budget_s=0.01)
    assert 0 < rate < float("inf")


def test_old_callers_still_unpack_three_values():
    device, name, note = resolve_device("cpu")
    assert (device.type, name, note) == ("cpu", "CPU", None)


def test_auto_without_a_config_keeps_the_first_accelerator_rule():
    def boom(config, kind):
        raise AssertionError("measured")
    c = resolve_device("auto", None, kinds=("cpu", "mps"), measure=boom)
    assert (c.device.type, c.name, c.reason) == (
        "mps", "MPS (Apple GPU)", "auto: MPS, the first accelerator (not measured)")
    c = resolve_device("auto", None, kinds=("cpu",), measure=boom)
    assert (c.device.type, c.reason) == ("cpu", "auto: CPU, the only device")
