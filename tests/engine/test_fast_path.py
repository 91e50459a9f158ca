"""The compiled block path (engine/fast) against the eager reference: same frames on every
preset within float tolerance, no recompilation across step-count phases and live edits,
a faulty block replayed eagerly so the fault keeps its exact step and level, and a failed
compile that falls back to eager with one line."""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch

from engine import session as session_mod
from engine.commands import Reset, SetParam
from engine.config import Config
from engine.fast import background, choose, runner
from engine.fast.choose import unsupported_reason, wants_fast_path
from engine.frames import FrameBatch
from engine.seeds import SeedBatch
from engine.session import EngineFault, Session
from nlviz.config_loader import load_config

SIZES = (1, 100, 37, 200, 64, 300, 5)      # cuts across blocks, unroll and sparse records


def _session(preset: str, engine: str, *sets: str) -> Session:
    return Session(load_config(preset, [f'run.engine="{engine}"', 'run.device="cpu"', *sets]))


def _run(session: Session, sizes: tuple[int, ...]) -> list[FrameBatch]:
    return [session.step(n) for n in sizes]


def _cat(batches: list[FrameBatch], name: str) -> np.ndarray:
    return np.concatenate([getattr(b, name) for b in batches])


def _close(a: np.ndarray, b: np.ndarray, what: str, rtol: float = 1e-4) -> None:
    """Equal where the reference is finite, within rtol of the column's scale."""
    assert a.shape == b.shape, what
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=f"{what}: NaN pattern")
    fin = np.isfinite(a)
    scale = np.abs(a[fin]) + 1e-3
    worst = float(np.max(np.abs(a[fin] - b[fin]) / scale)) if fin.any() else 0.0
    assert worst < rtol, f"{what}: relative difference {worst:.2e}"


@pytest.fixture(autouse=True)
def _small_unroll(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests compile 2-token graphs: the same per-token math as the shipped 8-token graph
    (test_shipped_unroll_equals_eager runs that one), a quarter of the compile time."""
    monkeypatch.setattr(runner, "UNROLL", 2)
    yield


def _assert_same_run(eager: list[FrameBatch], fast: list[FrameBatch]) -> None:
    for name in ("step", "fired", "inputs", "regime"):
        np.testing.assert_array_equal(_cat(eager, name), _cat(fast, name), err_msg=name)
    _close(_cat(eager, "level"), _cat(fast, "level"), "level metrics")
    _close(_cat(eager, "scalars"), _cat(fast, "scalars"), "scalars")
    for kind in ("probes", "snapshots", "states", "evals"):
        a = [r for b in eager for r in getattr(b, kind)]
        f = [r for b in fast for r in getattr(b, kind)]
        assert [r.step for r in a] == [r.step for r in f], kind
        assert a, f"{kind}: the run must produce some to compare"
    for a, f in zip((p for b in eager for p in b.probes), (p for b in fast for p in b.probes)):
        np.testing.assert_array_equal(a.ages, f.ages)
        _close(a.errors, f.errors, "probe errors", rtol=1e-3)
    for a, f in zip((s for b in eager for s in b.snapshots), (s for b in fast for s in b.snapshots)):
        for wa, wf in zip(a.weights + a.updates, f.weights + f.updates):
            _close(wa, wf, "snapshot", rtol=1e-3)
    for a, f in zip((s for b in eager for s in b.states), (s for b in fast for s in b.states)):
        assert sorted(a.tensors) == sorted(f.tensors)
        for key in a.tensors:
            if key == "config_json":                # says which engine ran; else the same
                continue
            if a.tensors[key].dtype.kind == "f":
                _close(a.tensors[key], f.tensors[key], f"state {key}", rtol=1e-3)
            else:
                np.testing.assert_array_equal(a.tensors[key], f.tensors[key], err_msg=key)
    for a, f in zip((e for b in eager for e in b.evals), (e for b in fast for e in b.evals)):
        _close(np.asarray(a.losses), np.asarray(f.losses), "evaluation", rtol=1e-3)


@pytest.mark.parametrize("preset", ["default", "consolidation", "tiny"])
def test_compiled_path_equals_the_eager_engine(preset: str) -> None:
    sets = ("run.state_every=256",) if preset != "tiny" else ()
    sizes = SIZES + ((1100,) if preset == "consolidation" else ())   # cms3 fires at 1024
    eager = _run(_session(preset, "eager", *sets), sizes)
    fast_session = _session(preset, "compiled", *sets)
    fast = _run(fast_session, sizes)
    assert fast_session.fast is not None and fast_session.fast.compiled_once
    _assert_same_run(eager, fast)


def test_single_titans_memory_without_cms_equals_eager() -> None:
    """The benchmark's single memory (plain Titans LMM, fixed gates, no CMS levels)."""
    sets = ('model.titans.variant="lmm"', "model.cms.periods=[]", 'model.titans.gates="fixed"',
            "run.state_every=0")
    eager = _run(_session("tiny", "eager", *sets), (1, 77, 64))
    fast_session = _session("tiny", "compiled", *sets)
    fast = _run(fast_session, (1, 77, 64))
    assert fast_session.fast is not None and fast_session.fast.compiled_once
    _close(_cat(eager, "level"), _cat(fast, "level"), "level metrics")
    _close(_cat(eager, "scalars"), _cat(fast, "scalars"), "scalars")


def test_seed_batch_on_the_compiled_path_equals_single_eager_runs() -> None:
    seeds = (0, 5, 9)
    config = load_config("tiny", ['run.engine="compiled"', 'run.device="cpu"'])
    batch = SeedBatch(config, seeds)
    got = [batch.step(n) for n in (1, 100)]
    with torch._dynamo.config.patch(error_on_recompile=True):   # other batch sizes: same graph
        got += [batch.step(n) for n in (37, 64, 120)]
    assert batch.fast is not None and batch.fast.compiled_once
    for i, seed in enumerate(seeds):
        alone = _session("tiny", "eager", f"run.seed={seed}")
        want = _run(alone, (1, 100, 37, 64, 120))
        _assert_same_run(want, [b[i] for b in got])


def test_no_recompilation_across_phases_live_edits_and_reset(
        monkeypatch: pytest.MonkeyPatch) -> None:
    session = _session("tiny", "compiled", "model.titans.momentum=0.5")
    eager = _session("tiny", "eager", "model.titans.momentum=0.5")
    session.step(1 + 64)
    eager.step(1 + 64)
    monkeypatch.setattr(torch._dynamo.config, "error_on_recompile", True)
    edits = [("model.titans.lr", 0.08), ("model.titans.lr_max", 0.6),
             ("model.titans.retention", 0.99), ("model.titans.momentum", 0.3),
             ("model.cms.lr", 0.05), ("model.cms.retention", 0.97), ("run.diag_every", 4),
             ("run.probe_every", 16)]
    got, want = [], []
    for path, value in edits:
        for s in (session, eager):
            s.apply(SetParam(path, value))
        got.append(session.step(37 + 64))          # every phase of every level, unaligned
        want.append(eager.step(37 + 64))
    for s in (session, eager):
        s.apply(Reset())
    got += _run(session, (1, 130))
    want += _run(eager, (1, 130))
    _close(_cat(want, "level"), _cat(got, "level"), "after live edits", rtol=1e-3)
    assert session.fast is not None and session.fast.compiled_once


def test_a_faulty_block_is_replayed_eagerly_with_the_exact_step(
        monkeypatch: pytest.MonkeyPatch) -> None:
    bad = 150                                       # inside a compiled block
    def poisoned(session: Session) -> Session:
        sample = session.stream.sample
        def sample_with_inf(t0: int, n: int):  # type: ignore[no-untyped-def]
            s = sample(t0, n)
            if t0 <= bad < t0 + n:
                s.x[bad - t0] = np.float32(3e38)    # overflows inside the model
            return s
        monkeypatch.setattr(session.stream, "sample", sample_with_inf)
        return session
    faults = []
    for engine in ("eager", "compiled"):
        s = poisoned(_session("tiny", engine))
        s.step(1)
        with pytest.raises(EngineFault) as info:
            s.step(299)
        faults.append(info.value)
    eager, fast = faults
    assert (fast.step, fast.level) == (eager.step, eager.level)
    assert str(fast) == str(eager)
    assert len(fast.batch.step) == len(eager.batch.step) > 100
    _close(eager.batch.level, fast.batch.level, "steps before the fault", rtol=1e-3)


def test_a_failed_compile_falls_back_to_eager_with_one_line() -> None:
    session = _session("tiny", "compiled")
    assert session.fast is not None
    def broken(*_: object) -> None:
        raise RuntimeError("no compiler\nsecond line")
    session.fast._compiled = broken                 # type: ignore[assignment]
    eager = _session("tiny", "eager")
    got = _run(session, (1, 50))
    want = _run(eager, (1, 50))
    assert session.fast is None
    assert session.engine_note == "eager engine: compiling failed (RuntimeError: no compiler)"
    errors = [e for b in got for e in b.events if e.kind == "error"]
    assert [e.detail for e in errors] == [session.engine_note]
    _close(_cat(want, "level"), _cat(got, "level"), "eager after the fallback", rtol=1e-6)


def test_masks_follow_the_eager_schedule() -> None:
    session = _session("consolidation", "compiled")
    fast = session.fast
    assert fast is not None
    fire, diag = fast.masks(count=1000, m=64, diag_every=8)
    after = np.arange(1001, 1065)
    np.testing.assert_array_equal(fire.numpy(), after[:, None] % np.array([16, 128, 1024]) == 0)
    np.testing.assert_array_equal(diag.numpy(), after % 8 == 0)
    assert fire[23, 2] and fire.sum() == 4 + 1 + 1     # 1024 fires every level


@pytest.mark.parametrize(("sets", "reason"), [
    (["model.titans.chunk_size=8"], "model.titans.chunk_size is 8 (the fast path is per token)"),
    (['model.titans.update_rule="literal93"'],
     "model.titans.update_rule is 'literal93' (the fast path is the delta rule)"),
])
def test_unsupported_configs_run_eager_and_say_why(sets: list[str], reason: str) -> None:
    config = load_config("tiny", ['run.engine="compiled"', *sets])
    assert unsupported_reason(config) == reason
    session = Session(config)
    assert session.fast is None
    assert session.engine_note == f"eager engine: {reason}"
    assert wants_fast_path(Config(), torch.device("cpu"))[0]


def test_auto_builds_in_the_background_then_switches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(background, "_BUILT", set())
    session = _session("tiny", "auto", "run.compile_after=40")
    eager = _session("tiny", "eager")
    assert session.engine_note == "eager engine (auto: compiles in the app and record only)"
    session.allow_background_build()
    assert session.fast is None and session.engine_note == (
        "eager engine for the first 40 steps, then compiled engine, blocks of 64 steps (auto)")
    got = _run(session, (1, 60))                     # passes 40 steps: the build starts
    build = session._background                      # None: already built and taken
    assert build is not None or session.fast is not None
    if build is not None:
        assert build.wait(600)
    got += _run(session, (3, 64, 64))               # takes the build, then compiled blocks
    want = _run(eager, (1, 60, 3, 64, 64))
    assert session.fast is not None and session.fast.compiled_once, session.engine_note
    assert session.engine_note == "compiled engine, blocks of 64 steps (auto: built in the background)"
    marks = [(e.step, e.detail) for b in got for e in b.events if e.kind == "engine"]
    assert len(marks) == 1 and marks[0][1] == session.engine_note
    assert 41 <= marks[0][0] <= 61                   # after 40 steps, once the build is done
    _close(_cat(want, "level"), _cat(got, "level"), "auto run")
    again = _session("tiny", "auto")                 # built before in this process: no wait
    again.allow_background_build()
    again.step(1)
    again.step(8)
    if again._background is not None:               # started at its first step, not at 40
        assert again._background.wait(600)
    again.step(8)
    assert again.fast is not None and again.model.count == 17


def test_without_a_compiler_the_session_stays_eager_and_says_why(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(choose.shutil, "which", lambda _name: None)
    session = _session("tiny", "compiled")
    assert session.fast is None
    assert session.engine_note == ("eager engine: no C++ compiler (g++) on PATH for "
                                   "torch.compile's CPU kernels")
    assert len(session.step(20).step) == 20


def test_eager_engine_never_compiles() -> None:
    session = _session("tiny", "eager")
    session.step(200)
    assert session.fast is None and session.engine_note == "eager engine (run.engine = eager)"
    assert session_mod.Session is Session
