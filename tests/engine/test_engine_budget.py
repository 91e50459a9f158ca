"""Memory budget: the estimate against the tensors the engine really builds, and the
refusal of a config that does not fit, naming the field and the sizes."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import engine.session as session_mod
from engine.budget import (
    check_memory,
    estimate_memory,
    format_bytes,
    host_available_memory,
)
from engine.commands import SetParam
from engine.config import Config, ConfigError
from engine.session import Session

ROOT = Path(__file__).resolve().parents[2]

CONFIGS = [
    {},
    {"model": {"titans": {"kind": "linear"}}},
    {"model": {"titans": {"variant": "lmm", "gates": "fixed"}}},
    {"model": {"dtype": "float64", "d_in": 5, "d": 40, "cms": {"periods": []}}},
    {"model": {"d_in": 64, "d": 24, "titans": {"hidden": 100}, "cms": {"hidden": 70}},
     "run": {"probe_size": 30}},
]


def _config(data: dict) -> Config:
    data = json.loads(json.dumps(data))
    data.setdefault("run", {})["device"] = "cpu"
    return Config.from_dict(data)


def _tensors(obj, seen: set, out: dict, depth: int = 0) -> None:
    """Every tensor storage reachable from an engine object (by storage, so views and
    aliases count once)."""
    if depth > 6 or id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, torch.Tensor):
        out[obj.untyped_storage().data_ptr()] = obj.untyped_storage().nbytes()
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _tensors(v, seen, out, depth + 1)
    elif isinstance(obj, dict):
        for v in obj.values():
            _tensors(v, seen, out, depth + 1)
    elif hasattr(obj, "__dict__") and type(obj).__module__.startswith("engine"):
        for v in vars(obj).values():
            _tensors(v, seen, out, depth + 1)


@pytest.mark.parametrize("data", CONFIGS)
def test_parameter_bytes_equal_the_estimate(data):
    cfg = _config(data)
    m = Session(cfg).model
    weights = [m.w_in, m.w_out, m.titans.w_q, m.titans.w_kv, *m.titans.bank.params()]
    weights += [w for lv in m.cms.levels for w in (lv.w1, lv.w2)]
    assert estimate_memory(cfg.model, cfg.run).parameters == \
        sum(w.numel() * w.element_size() for w in weights)


@pytest.mark.parametrize("data", CONFIGS)
def test_persistent_bytes_match_every_engine_tensor(data):
    cfg = _config(data)
    s = Session(cfg)
    s.step(5)                                      # chunk size 1: nothing pending after
    found: dict = {}
    _tensors(s.model, set(), found)
    _tensors(s.probes, set(), found)
    actual = sum(found.values())
    est = estimate_memory(cfg.model, cfg.run)
    assert abs(est.persistent - actual) <= 0.01 * actual, (est, actual)
    assert est.total > est.persistent


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_peak_resident_memory_stays_within_the_estimate():
    """A run's real peak memory (VmHWM in a fresh process, after torch is loaded) lies
    between the tensors it keeps and the estimate's total."""
    data = {"model": {"d": 128, "titans": {"hidden": 1024}, "cms": {"hidden": 1024}},
            "run": {"device": "cpu", "state_every": 4, "probe_every": 4, "snapshot_every": 4}}
    script = (
        "import json, sys, torch\n"
        "from engine.config import Config\n"
        "from engine.session import Session\n"
        "def hwm():\n"
        "    return [int(l.split()[1]) * 1024 for l in open('/proc/self/status')\n"
        "            if l.startswith('VmHWM:')][0]\n"
        "torch.set_num_threads(1)\n"
        "torch.randn(64, 64) @ torch.randn(64, 64)\n"
        "cfg = Config.from_dict(json.loads(sys.argv[1]))\n"
        "base = hwm()\n"
        "Session(cfg).step(8)\n"
        "print(hwm() - base)\n")
    out = subprocess.run([sys.executable, "-c", script, json.dumps(data)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300, check=True)
    peak = int(out.stdout.split()[-1])
    cfg = Config.from_dict(data)
    est = estimate_memory(cfg.model, cfg.run, steps_per_call=8)
    assert est.persistent <= peak <= est.total, (peak, est)


def test_check_memory_names_the_field_and_both_sizes():
    cfg = _config({"model": {"titans": {"hidden": 4096}}})
    est = estimate_memory(cfg.model, cfg.run)
    with pytest.raises(ConfigError) as info:
        check_memory(cfg.model, cfg.run, 1_000_000)
    assert str(info.value) == (f"model.titans.hidden=4096: the model needs about "
                               f"{format_bytes(est.total)}, more than the 1.0 MB available")
    assert check_memory(cfg.model, cfg.run, est.total) == est       # exactly enough: accepted
    assert check_memory(cfg.model, cfg.run, None) == est            # unknown: not refused


@pytest.mark.parametrize("data,field,shown", [
    ({"model": {"cms": {"hidden": 8192}}}, "model.cms.hidden", "8192"),
    ({"model": {"d": 2048}}, "model.d", "2048"),
    ({"model": {"cms": {"periods": [2] * 40}}}, "model.cms.periods", "[40 levels]"),
    ({"model": {"cms": {"periods": [2, 4, 8, 16, 32]}}}, "model.cms.periods",
     "[2, 4, 8, 16, 32]"),
    ({"run": {"probe_size": 200_000}}, "run.probe_size", "200000"),
    ({"model": {"titans": {"chunk_size": 100_000}}}, "model.titans.chunk_size", "100000"),
])
def test_refusal_blames_the_field_that_costs_the_most(data, field, shown):
    cfg = _config(data)
    with pytest.raises(ConfigError) as info:
        check_memory(cfg.model, cfg.run, 1000)
    assert str(info.value).startswith(f"{field}={shown}: the model needs about "), info.value


def test_session_refuses_a_model_too_big_for_memory(monkeypatch):
    monkeypatch.setattr(session_mod, "available_memory", lambda device: (50_000_000, "available"))
    with pytest.raises(ConfigError, match=r"^model\.d=4096: the model needs about [\d.]+ MB, "
                                          r"more than the 50\.0 MB available$"):
        Session(_config({"model": {"d": 4096}}))


def test_refused_rebuild_keeps_the_running_model(monkeypatch):
    s = Session(_config({}))
    before = s.step(4)
    avail = estimate_memory(s.config.model, s.config.run).total * 3
    monkeypatch.setattr(session_mod, "available_memory", lambda device: (avail, "available"))
    with pytest.raises(ConfigError, match=r"^model\.titans\.hidden=100000: the model needs"):
        s.apply(SetParam("model.titans.hidden", 100_000))
    assert s.config.model.titans.hidden == 32
    after = s.step(4)                              # the old model runs on
    assert after.step.tolist() == [4, 5, 6, 7] and before.level.shape == after.level.shape


def test_host_available_memory_is_plausible():
    avail = host_available_memory()
    assert avail is not None and avail > 0
    import os
    assert avail <= os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.parametrize("n,text", [(0, "0 B"), (999, "999 B"), (1000, "1.0 kB"),
                                    (48_213_000_000, "48.2 GB"), (2.4e15, "2.4 PB")])
def test_format_bytes(n, text):
    assert format_bytes(n) == text


def test_gpu_estimate_leaves_out_the_host_copies():
    cfg = _config({"run": {"state_every": 16, "snapshot_every": 8}})
    host, gpu = estimate_memory(cfg.model, cfg.run), estimate_memory(cfg.model, cfg.run, host=False)
    assert (host.parameters, host.state, host.probes) == (gpu.parameters, gpu.state, gpu.probes)
    copies = 256 // 16                                          # state captures in one call
    assert host.working - gpu.working > copies * host.persistent


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_peak_allocation_stays_within_the_estimate():
    data = {"model": {"d": 128, "titans": {"hidden": 1024}, "cms": {"hidden": 1024}},
            "run": {"device": "cuda", "state_every": 4, "probe_every": 4, "snapshot_every": 4}}
    cfg = Config.from_dict(data)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    s = Session(cfg)
    s.step(8)
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - base
    est = estimate_memory(cfg.model, cfg.run, steps_per_call=8, host=False)
    assert est.persistent <= peak <= est.total, (peak, est)
