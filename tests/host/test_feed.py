"""Feeding the GUI at compiled-engine rates: batches in whole blocks of ``run.block`` and
sparse records thinned on their way to the GUI while the recorder keeps every one."""
from __future__ import annotations

import numpy as np

from engine.frames import EvalRecord, EventRecord, ProbeRecord, SnapshotRecord, StateRecord
from nlviz.host.batching import block_batch
from nlviz.host.protocol import Batch, Paused, Record, RecordingChanged, StepN
from nlviz.host.thinning import GuiThinner
from tests.host.driver import frames_of
from tests.host.loops import THIN_LOOP


def test_block_batch_rounds_to_whole_blocks():
    assert block_batch(2222, 64, 4096) == 2176             # 34 blocks at ~100k steps/s
    assert block_batch(64, 64, 4096) == 64
    assert block_batch(127, 64, 4096) == 64
    assert block_batch(9000, 64, 4100) == 4096              # the cap, in blocks
    assert block_batch(63, 64, 4096) == 63                  # under a block: exact
    assert block_batch(1, 64, 4096) == 1                    # a single step stays one
    assert block_batch(0, 64, 4096) == 0                    # a paced run ahead of time
    assert block_batch(5000, 8192, 4096) == 5000            # K above the cap: one block max
    assert block_batch(9000, 8192, 4096) == 8192
    assert block_batch(100, 1, 4096) == 100


def _batch(spec, steps, probes=(), snaps=(), states=(), events=(), evals=()):
    from bench.gui import synthetic_batch
    b = synthetic_batch(spec, steps[0], len(steps), np.random.default_rng(steps[0]))
    b.probes = [ProbeRecord(s, np.zeros(2, np.float32), np.zeros(2, np.float32)) for s in probes]
    b.snapshots = [SnapshotRecord(s, (), ()) for s in snaps]
    b.states = [StateRecord(s, {}) for s in states]
    b.events = [EventRecord(s, "param", "x") for s in events]
    b.evals = [EvalRecord(s, np.zeros(1, np.float32), np.zeros(1, np.float32)) for s in evals]
    return b


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_a_fast_stream_reaches_the_gui_thinned_and_the_recording_whole():
    """100,000 steps in 2 simulated seconds, 64 per batch, a probe, snapshot and state
    in every batch, an event every 10th and an eval every 5th: the GUI side gets at most
    4 per second of each thinned kind, always the newest, every row, event and eval; the
    "recording" (the batches as produced) has all of them."""
    from bench.gui import synthetic_spec
    spec = synthetic_spec(4)
    clock = FakeClock()
    th = GuiThinner(0.25, clock)
    produced, sent = [], []
    dt = 2.0 / (100_000 // 64)
    for i, s in enumerate(range(0, 100_000 - 63, 64)):
        last = s + 63
        b = _batch(spec, np.arange(s, s + 64), probes=[last], snaps=[last], states=[last],
                   events=[s] if i % 10 == 0 else [], evals=[last] if i % 5 == 0 else [])
        produced.append(b)
        sent.append(th.thin(b))
        clock.t += dt
    held = th.flush(spec)
    assert held is not None and len(held) == 0
    sent.append(held)
    rec = [p.step for b in produced for p in b.probes]
    assert len(rec) == 1562 and rec == sorted(set(rec))             # nothing lost there
    for kind in ("probes", "snapshots", "states"):
        got = [r.step for b in sent for r in getattr(b, kind)]
        times = [k * dt for k, b in enumerate(sent[:-1]) for _ in getattr(b, kind)]
        assert 8 <= len(got) <= 2 * 4 + 2                           # 4/s over 2 s, + flush
        for sec in (0, 1):                                          # per simulated second
            assert sum(1 for t in times if sec <= t < sec + 1) <= 4
        assert got == sorted(set(got)) and set(got) <= set(rec)
        assert got[0] == 63 and got[-1] == rec[-1]                  # the first, the newest
    # every row, event and evaluation went to the GUI, in order
    np.testing.assert_array_equal(np.concatenate([b.step for b in sent]), np.arange(99_968))
    assert [e.step for b in sent for e in b.events] == \
        [e.step for b in produced for e in b.events]
    assert [e.step for b in sent for e in b.evals] == [e.step for b in produced for e in b.evals]
    assert GuiThinner(0.25, clock).flush(spec) is None


def test_a_record_not_due_yet_comes_with_the_next_due_batch():
    from bench.gui import synthetic_spec
    spec = synthetic_spec(2)
    clock = FakeClock()
    th = GuiThinner(1.0, clock)
    assert [p.step for p in th.thin(_batch(spec, np.arange(0, 4), probes=[3])).probes] == [3]
    clock.t = 0.5
    assert th.thin(_batch(spec, np.arange(4, 8), probes=[7])).probes == []
    clock.t = 1.0                                   # a batch without probes carries the held one
    assert [p.step for p in th.thin(_batch(spec, np.arange(8, 12))).probes] == [7]
    assert th.flush(spec) is None


def test_play_at_max_runs_whole_blocks(start_engine, tiny):
    d = start_engine()
    d.send(StepN(200))
    assert d.until(Paused).step_count == 200
    sizes = [r.size for r in d.log if isinstance(r, Batch) and r.size]  # 0: held records
    k = tiny.run.block
    assert sum(sizes) == 200 and all(s % k == 0 for s in sizes[:-1])
    assert sizes[-1] % k == 200 % k                  # only the last batch has a remainder


def test_the_engine_process_thins_for_the_gui_and_records_everything(start_engine, tiny,
                                                                     tmp_path):
    from nlviz.recording.reader import Recording
    cfg = tiny.replace("run.probe_every", 8).replace("run.snapshot_every", 8) \
        .replace("run.state_every", 16)
    path = tmp_path / "run.h5"
    d = start_engine(cfg, loop=THIN_LOOP)
    d.send(Record(str(path)))
    assert d.until(RecordingChanged).on
    d.send(StepN(400))
    assert d.until(Paused).step_count == 400
    replies = d.take()
    sent = frames_of(replies)
    end = next(r.step_count for r in replies if isinstance(r, Batch))   # the first batch's
    d.send(Record(None))
    assert d.until(RecordingChanged).text.endswith("(400 rows)")
    np.testing.assert_array_equal(sent.step, np.arange(400))          # every row
    with Recording.open(path) as rec:
        probes = rec.probe_steps().tolist()
        snaps = rec.snapshot_steps().tolist()
        states = rec.state_steps().tolist()
    assert len(probes) == len(snaps) == 50 and len(states) == 25      # all in the file
    # the GUI got the newest of each kind in the first batch and, flushed at the pause,
    # the newest of the run: nothing else
    for got, kept in ((sent.probes, probes), (sent.snapshots, snaps), (sent.states, states)):
        assert [r.step for r in got] == [max(s for s in kept if s < end), kept[-1]]
