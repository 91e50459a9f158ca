"""A file not closed cleanly whose sparse records (probes, snapshots, states, events) hold
rows past the last committed step that were allocated but never written (they read as
step 0), as a full disk or kill -9 leaves them: the reader uses only the rows surely
written and says so; the same defect in a cleanly closed file is refused."""
from __future__ import annotations

import h5py
import numpy as np
import pytest

from nlviz.commands.info import describe
from nlviz.recording import layout as L
from nlviz.recording.reader import Recording, RecordingError
from nlviz.recording.writer import Recorder
from nlviz.replay.files import recording_note
from tests.support.synthetic import state_template, synthetic_batch, synthetic_spec


def _recording(path, n=400):
    spec = synthetic_spec()
    with Recorder(path, spec, {}, device="cpu", stream="s",
                  state_template=state_template(spec)) as rec:
        rec.append(synthetic_batch(spec, 0, n, sparse_every=32, state_every=64))
    return spec


def _grow_unwritten(path, extra: int, committed: int | None, clean: int) -> None:
    """Extend every sparse dataset by ``extra`` rows left unwritten (zeros)."""
    with h5py.File(path, "r+") as f:
        for step_path in (L.D_PROBE_STEP, L.D_SNAP_STEP, L.D_EVENT_STEP, L.D_STATE_STEP):
            group = f[step_path.split("/")[0]]

            def grow(_name, obj):
                if isinstance(obj, h5py.Dataset):
                    obj.resize(obj.shape[0] + extra, axis=0)
            group.visititems(grow)
        if committed is not None:
            f[L.D_ROWS_COMMITTED][0] = committed
        f[L.D_CLEAN_CLOSE][0] = clean


def test_recovered_file_uses_only_the_written_records(tmp_path):
    p = tmp_path / "cut.h5"
    _recording(p)
    with Recording.open(p) as rec:
        want_probes = rec.probe_steps()
        want_states = rec.state_steps()
        want_events = rec.events
    _grow_unwritten(p, 5, committed=300, clean=0)   # steps 0..299 committed, 300..399 not
    with Recording.open(p) as rec:
        assert rec.recovered and rec.n_rows == 300
        np.testing.assert_array_equal(rec.probe_steps(), want_probes[want_probes <= 299])
        np.testing.assert_array_equal(rec.snapshot_steps(), want_probes[want_probes <= 299])
        np.testing.assert_array_equal(rec.state_steps(), [63, 127, 191, 255])
        assert list(want_states) == [63, 127, 191, 255, 319, 383]
        assert rec.events == want_events and [e.kind for e in rec.events] == ["start"]
        # stored: what the file can hold of the grown datasets (states: its allocated chunks)
        stored = {g: n for g, (n, _k) in rec.unwritten.items()}
        assert {g: k for g, (_n, k) in rec.unwritten.items()} == \
            {"probes": 9, "snapshots": 9, "states": 4, "events": 1}
        assert stored["probes"] == stored["snapshots"] == 17 and stored["events"] == 6
        assert 6 < stored["states"] <= 11
        assert rec.record_rows("probes") == 9
        snap = rec.snapshot_at(10 ** 6)
        assert snap is not None and snap.step == 287 and float(snap.weights[0][0, 0]) == 287.0
        state = rec.state_at_or_before(10 ** 6)
        assert state is not None and state.step == 255 and int(state.tensors["step_count"]) == 256
        assert [p.step for p in rec.probes()][-1] == 287
        cut = ("records past step 299 were not committed and are left out (kept: events 1 of "
               f"6, probes 9 of 17, snapshots 9 of 17, states 4 of {stored['states']})")
        assert rec.unwritten_note() == cut
        assert f"unwritten:      {cut}" in describe(rec)
        assert (recording_note(rec) or "").endswith(f"; {cut}")


def test_cleanly_closed_file_with_unwritten_records_is_refused(tmp_path):
    p = tmp_path / "bad.h5"
    _recording(p)
    _grow_unwritten(p, 3, committed=None, clean=1)
    with pytest.raises(RecordingError) as err:
        Recording.open(p)
    assert str(err.value) == (f"{p}: /probes/step is not in step order: row 12 holds 0 "
                              "after 383")


def test_recovered_file_with_nothing_past_the_end_has_no_note(tmp_path):
    p = tmp_path / "fine.h5"
    _recording(p)
    with h5py.File(p, "r+") as f:
        f[L.D_CLEAN_CLOSE][0] = 0
    with Recording.open(p) as rec:
        assert rec.recovered and rec.unwritten == {} and rec.unwritten_note() is None
        assert len(rec.probe_steps()) == 12 and len(rec.state_steps()) == 6
