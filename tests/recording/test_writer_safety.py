"""The writing side under pressure: full disk, a second writer, existing, odd or vanishing
output paths, checksums, and the device actually used. Every refusal is one line on stderr
with a non-zero exit; what was committed stays readable and equal to what was computed."""
from __future__ import annotations

import ctypes
import hashlib
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from nlviz.errors import UserError
from nlviz.recording import layout as L
from nlviz.recording.outlock import OutputBusy, OutputExists
from nlviz.recording.reader import Recording
from nlviz.recording.superblock import clamp_eof, lookup3
from nlviz.recording.writer import Recorder
from tests.recording.interrupt import ctrl_c_default, interrupt
from tests.support.synthetic import synthetic_batch, synthetic_spec

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "data" / "recording_v1_0.h5"
RECORD = ["--preset", "tiny", "--batch", "64", "--no-progress"]


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=str(ROOT))


def _record(out, *args: str, preexec=None, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "main.py"), "record", "--out", str(out),
                           *args], capture_output=True, text=True, timeout=timeout, env=_env(),
                          cwd=ROOT, preexec_fn=preexec)


def _one_line(stderr: str) -> str:
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def _start_long(out: Path, *args: str) -> subprocess.Popen:
    """A `record` of a million steps; returns once it has committed 64 rows."""
    proc = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "record", "--out", str(out),
                             "--steps", "1000000", *RECORD, *args], stderr=subprocess.PIPE,
                            text=True, env=_env(), cwd=ROOT, preexec_fn=ctrl_c_default)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 90:
        time.sleep(0.2)
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        try:
            with Recording.open(out) as rec:
                if rec.n_rows >= 64:
                    return proc
        except Exception:  # noqa: BLE001 - not created yet
            pass
    proc.kill()
    raise AssertionError("the first writer never committed 64 rows")


def _stop(proc: subprocess.Popen) -> str:
    err = interrupt(proc)
    assert proc.returncode == 130, err
    return err


# ---- full disk ------------------------------------------------------------------------------
def _file_size_limit(limit: int):
    def pre() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # writes past the limit get EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return pre


def test_disk_full_stops_with_one_line_and_keeps_the_committed_steps(tmp_path):
    out = tmp_path / "full.h5"
    res = _record(out, "--steps", "100000", *RECORD, preexec=_file_size_limit(4_000_000))
    assert res.returncode == 2, res.stderr
    line = _one_line(res.stderr)
    m = re.fullmatch(rf"nlviz: error: {re.escape(str(out))}: disk full after step (\d+); "
                     r"the recording holds steps 0\.\.(\d+)", line)
    assert m, line
    after, last = int(m.group(1)), int(m.group(2))
    assert 0 < last <= after < 100000
    assert os.path.getsize(out) <= 4_000_000

    ref = tmp_path / "ref.h5"   # the same run, recorded to its end (the engine is deterministic)
    assert _record(ref, "--steps", str(last + 1), *RECORD).returncode == 0
    with Recording.open(out) as got, Recording.open(ref) as want:
        assert got.recovered and not got.complete
        assert got.n_rows == last + 1 == want.n_rows
        np.testing.assert_array_equal(got.steps, np.arange(last + 1))
        for lv in want.levels:
            for metric in (*want.spec.level_metrics, "fired"):
                np.testing.assert_array_equal(got.window(metric, lv).values,
                                              want.window(metric, lv).values)
        for metric in want.spec.global_metrics:
            np.testing.assert_array_equal(got.window(metric).values, want.window(metric).values)
        np.testing.assert_array_equal(got.inputs(0, last + 1), want.inputs())
        _assert_same_sparse_records(got, want, last)
    # sparse records up to the last committed step are all there (rows after it may
    # be allocated but unwritten: readers bound them by that step)
    with h5py.File(out, "r", libver="latest", swmr=True) as g, h5py.File(ref, "r") as w:
        k = int(np.searchsorted(w[L.D_SNAP_STEP][:], last, side="right"))
        assert k > 1
        np.testing.assert_array_equal(g[L.D_SNAP_STEP][:k], w[L.D_SNAP_STEP][:])
        for lv in want.levels:
            np.testing.assert_array_equal(g[f"{L.G_SNAP_WEIGHTS}/{lv}"][:k],
                                          w[f"{L.G_SNAP_WEIGHTS}/{lv}"][:k])
    info = subprocess.run([sys.executable, str(ROOT / "main.py"), "info", str(out)],
                          capture_output=True, text=True, timeout=60, env=_env(), cwd=ROOT)
    assert info.returncode == 0, info.stderr
    assert f"steps:          {last + 1} (step 0 .. {last})" in info.stdout
    with Recording.open(ref) as want:
        events = [e for e in want.events if e.step <= last]   # the reference's last one
        assert len(want.events) == len(events) + 1             # marks its end, after it
        counts = (f"events:         {len(events)}, probes: {len(want.probe_steps())}, "
                  f"snapshots: {len(want.snapshot_steps())}, states: {len(want.state_steps())}")
    assert counts in info.stdout.splitlines()
    assert f"unwritten:      records past step {last:,} were not committed" in info.stdout
    csv = {}
    for name, path in (("got", out), ("want", ref)):
        res = subprocess.run([sys.executable, str(ROOT / "main.py"), "export", str(path),
                              "--csv", str(tmp_path / f"{name}.csv")], capture_output=True,
                             text=True, timeout=120, env=_env(), cwd=ROOT)
        assert res.returncode == 0 and res.stderr == "", res.stderr
        rows = (tmp_path / f"{name}.csv").read_text().splitlines()
        csv[name] = [r.split(",") for r in rows]
        assert csv[name][0][:2] == ["step", "wall_time"]
        for r in csv[name]:
            del r[1]                  # wall time is the one value two runs do not share
    assert len(csv["got"]) == len(csv["want"]) > last + 1
    assert all(a == b for a, b in zip(csv["got"], csv["want"]))   # (no slow diff on failure)
    _assert_same_replay(out, ref, last)


def _assert_same_sparse_records(got: Recording, want: Recording, last: int) -> None:
    """``got`` (cut off by a full disk after step ``last``) gives exactly the sparse records
    of ``want`` (the same run, closed after step ``last``): rows past the committed end,
    stored but never written (step 0), are left out and said so."""
    # which groups had rows allocated past the cut depends on where in a flush the disk
    # filled (batch sizes follow the engine's speed): at least one, and each one exactly
    assert got.unwritten and \
        set(got.unwritten) <= {"probes", "snapshots", "states", "events", "evals"}
    for group, n in got.unwritten.items():
        assert n[1] < n[0] and got.record_rows(group) == n[1] == want.record_rows(group)
    for group in ("probes", "snapshots", "states"):
        assert got.record_rows(group) == want.record_rows(group)
    for steps_of in ("probe_steps", "snapshot_steps", "state_steps"):
        want_steps = getattr(want, steps_of)()
        assert len(want_steps) > 1 and want_steps[-1] <= last
        np.testing.assert_array_equal(getattr(got, steps_of)(), want_steps)
    for a, b in zip(got.probes(), want.probes(), strict=True):
        assert a.step == b.step
        np.testing.assert_array_equal(a.ages, b.ages)
        np.testing.assert_array_equal(a.errors, b.errors)
    for s in want.snapshot_steps():
        sa, sb = got.snapshot_at(int(s)), want.snapshot_at(int(s))
        assert sa is not None and sb is not None and sa.step == sb.step == s
        for x, y in zip(sa.weights + sa.updates, sb.weights + sb.updates, strict=True):
            np.testing.assert_array_equal(x, y)
    la, lb = got.snapshot_at(10 ** 9), want.snapshot_at(10 ** 9)
    assert la is not None and lb is not None and la.step == lb.step
    ta, tb = got.state_at_or_before(10 ** 9), want.state_at_or_before(10 ** 9)
    assert ta is not None and tb is not None and ta.step == tb.step == int(want.state_steps()[-1])
    assert sorted(ta.tensors) == sorted(tb.tensors)
    for name in tb.tensors:
        np.testing.assert_array_equal(ta.tensors[name], tb.tensors[name])
    assert got.events == [e for e in want.events if e.step <= last]
    assert "" not in [e.kind for e in got.events]


def _assert_same_replay(out: Path, ref: Path, last: int) -> None:
    """The replay loader (``try_open`` + ``ReplaySource``) shows the committed data."""
    from nlviz.replay.files import recording_note, try_open
    from nlviz.replay.source import ReplaySource

    got, want = try_open(out), try_open(ref)
    assert isinstance(got, Recording) and isinstance(want, Recording), (got, want)
    try:
        note = recording_note(got)
        assert note is not None and "\n" not in note
        assert f"records past step {last:,} were not committed and are left out" in note
        a, b = ReplaySource(got), ReplaySource(want)
        for cursor in (0, last // 2, last, last + 10 ** 6):
            pa, pb = a.probes_at(cursor), b.probes_at(cursor)
            assert [p.step for p in pa] == [p.step for p in pb]
            for x, y in zip(pa, pb):
                np.testing.assert_array_equal(x.errors, y.errors)
            sa, sb = a.snapshot_at(cursor), b.snapshot_at(cursor)
            assert sa is not None and sb is not None and sa.step == sb.step
            for u, v in zip(sa.weights + sa.updates, sb.weights + sb.updates):
                np.testing.assert_array_equal(u, v)
            assert a.events_until(cursor) == [ln for ln in b.events_until(cursor)
                                              if int(ln.split(":")[0]) <= last]
        np.testing.assert_array_equal(a.event_marks()[0], [0])
    finally:
        got.close()
        want.close()


def test_disk_full_before_the_first_step_is_one_line_and_leaves_no_file(tmp_path):
    out = tmp_path / "nospace.h5"
    res = _record(out, "--steps", "100", *RECORD, preexec=_file_size_limit(20_000))
    assert res.returncode == 2
    assert _one_line(res.stderr) == f"nlviz: error: {out}: cannot create recording: disk full"
    assert not out.exists()


# ---- one writer per file ------------------------------------------------------------------
def test_second_record_to_a_file_being_written_is_refused(tmp_path):
    out = tmp_path / "busy.h5"
    first = _start_long(out, "--seed", "11")
    try:
        for extra in ([], ["--overwrite"]):
            res = _record(out, "--steps", "50", *RECORD, "--seed", "22", *extra)
            assert res.returncode == 2
            assert _one_line(res.stderr) == (f"nlviz: error: {out}: another process is writing "
                                             "this recording; refusing to write it too")
    finally:
        err = _stop(first)
    assert "interrupted at step" in err
    with Recording.open(out) as rec:
        assert rec.complete and rec.n_rows >= 64
        np.testing.assert_array_equal(rec.steps, np.arange(rec.n_rows))
        assert rec.config["run"]["seed"] == 11


def test_existing_recording_is_kept_unless_overwrite(tmp_path):
    out = tmp_path / "old.h5"
    assert _record(out, "--steps", "20", *RECORD, "--seed", "1").returncode == 0
    before = hashlib.sha256(out.read_bytes()).hexdigest()
    res = _record(out, "--steps", "30", *RECORD, "--seed", "2")
    assert res.returncode == 2
    assert _one_line(res.stderr) == \
        f"nlviz: error: {out}: already exists; use --overwrite to replace it"
    assert hashlib.sha256(out.read_bytes()).hexdigest() == before
    res = _record(out, "--steps", "30", *RECORD, "--seed", "2", "--overwrite")
    assert res.returncode == 0, res.stderr
    with Recording.open(out) as rec:
        assert rec.complete and rec.n_rows == 30 and rec.config["run"]["seed"] == 2


def test_overwrite_of_a_file_open_in_a_replay_is_refused(tmp_path):
    out = tmp_path / "open.h5"
    shutil.copy(GOLDEN, out)
    before = out.read_bytes()
    with Recording.open(out) as rec:   # HDF5 holds its shared lock while a reader has it open
        res = _record(out, "--steps", "5", *RECORD, "--overwrite")
        assert rec.n_rows == 600
    assert res.returncode == 2
    assert _one_line(res.stderr) == (f"nlviz: error: {out}: open in another program (a replay "
                                     "or reader); close it before replacing it")
    assert out.read_bytes() == before


def test_recorder_refuses_a_second_writer_in_the_same_process(tmp_path):
    spec = synthetic_spec()
    out = tmp_path / "one.h5"
    with Recorder(out, spec, {}, device="cpu", stream="s") as rec:
        rec.append(synthetic_batch(spec, 0, 40))
        with pytest.raises(OutputBusy, match="another process is writing this recording"):
            Recorder(out, spec, {}, device="cpu", stream="s", overwrite=True)
        rec.append(synthetic_batch(spec, 40, 10))
    with pytest.raises(OutputExists, match="already exists; use --overwrite"):
        Recorder(out, spec, {}, device="cpu", stream="s")
    with Recording.open(out) as got:   # neither refusal touched the file
        assert got.complete and got.n_rows == 50
        np.testing.assert_array_equal(got.steps, np.arange(50))
    with Recorder(out, spec, {}, device="cpu", stream="s", overwrite=True) as rec:
        rec.append(synthetic_batch(spec, 0, 7))
    with Recording.open(out) as got:
        assert got.n_rows == 7


def test_the_apps_recording_path_refuses_an_existing_file(tmp_path):
    """``RecordingLink.start`` (the app's --record and Record button) creates files alike."""
    from engine.session import Session
    from nlviz.config_loader import load_config
    from nlviz.host.recording_link import RecordingLink

    session = Session(load_config("tiny"))
    out = tmp_path / "app.h5"
    out.write_bytes(b"precious")
    link = RecordingLink()
    with pytest.raises(OutputExists) as err:
        link.start(str(out), session)
    assert str(err.value) == f"{out}: already exists; use --overwrite to replace it"
    assert not link.active and out.read_bytes() == b"precious"
    link.start(str(out), session, overwrite=True)
    assert link.append(session.step(5)) is None
    assert link.stop() == f"recording closed: {out} (5 rows)"
    with Recording.open(out) as rec:
        assert rec.n_rows == 5
        assert rec.device_requested == session.config.run.device == "cpu"


# ---- odd output paths -----------------------------------------------------------------------
def _drop_dac_override() -> None:
    """Child only: as root, lose the right to write into read-only folders."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):   # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        libc.prctl(24, cap, 0, 0, 0)   # PR_CAPBSET_DROP; takes effect at exec


@pytest.mark.parametrize("case", ["directory", "dev_null", "read_only_dir", "parent_is_a_file"])
def test_unusable_output_is_one_line(tmp_path, case):
    preexec = None
    if case == "directory":
        out = tmp_path
        want = f"{tmp_path}: is a directory; give a file name such as {tmp_path / 'run.h5'}"
    elif case == "dev_null":
        out = Path(os.devnull)
        want = "/dev/null: not a regular file; a recording must be written to a regular .h5 file"
    elif case == "read_only_dir":
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        out, want = ro / "run.h5", f"{ro / 'run.h5'}: cannot create recording: Permission denied"
        preexec = _drop_dac_override if os.geteuid() == 0 else None
    else:
        (tmp_path / "file").write_text("x")
        out = tmp_path / "file" / "run.h5"
        want = f"{out}: cannot create recording: Not a directory"
    res = _record(out, "--steps", "5", *RECORD, preexec=preexec)
    assert res.returncode == 2
    assert _one_line(res.stderr) == f"nlviz: error: {want}"
    if case == "read_only_dir":
        assert list((tmp_path / "ro").iterdir()) == []


def test_output_folder_removed_mid_run_is_reported(tmp_path):
    folder = tmp_path / "gone"
    out = folder / "run.h5"
    proc = _start_long(out)
    shutil.rmtree(folder)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    line = _one_line(err)
    assert re.fullmatch(rf"nlviz: error: {re.escape(str(out))}: the file was deleted or "
                        r"replaced while recording \(after step \d+\); the steps written to it "
                        r"are lost", line), line


# ---- checksums ------------------------------------------------------------------------------
def test_every_chunked_dataset_has_a_fletcher32_checksum(recorded):
    path, _spec, _batch = recorded
    chunked = []
    with h5py.File(path, "r") as f:
        assert f.attrs[L.A_SCHEMA_VERSION] == "1.4"

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and obj.chunks is not None:
                chunked.append((name, obj.fletcher32, obj.compression))
        f.visititems(visit)
    names = {n for n, _, _ in chunked}
    assert {"steps", "inputs", "levels/cms1/surprise", "lod/b16", "snapshots/weights/cms1",
            "states/step", "events/detail"} <= names
    assert [n for n, fl, _ in chunked if not fl] == []
    assert {n: c for n, _, c in chunked}["snapshots/weights/cms1"] == "gzip"


def test_a_flipped_byte_in_a_chunk_is_detected(tmp_path):
    spec = synthetic_spec()
    out = tmp_path / "flip.h5"
    with Recorder(out, spec, {}, device="cpu", stream="s") as rec:
        rec.append(synthetic_batch(spec, 0, 100))
    with h5py.File(out, "r") as f:
        good = f["levels/L1/surprise"][:]
        offset = f["levels/L1/surprise"].id.get_chunk_info(0).byte_offset
    with open(out, "r+b") as fh:
        fh.seek(offset + 8)
        byte = fh.read(1)
        fh.seek(offset + 8)
        fh.write(bytes([byte[0] ^ 0x10]))
    with h5py.File(out, "r") as f:
        with pytest.raises(OSError, match=r"(?i)checksum|fletcher|filter"):
            f["levels/L1/surprise"][:]
        np.testing.assert_array_equal(f["levels/L0/surprise"].shape, good.shape)


def test_superblock_checksum_and_eof_clamp(tmp_path):
    head = GOLDEN.read_bytes()[:48]
    assert lookup3(head[:44]) == int.from_bytes(head[44:48], "little")
    copy = tmp_path / "g.h5"
    shutil.copy(GOLDEN, copy)
    assert clamp_eof(str(copy)) is False            # nothing to mend
    data = bytearray(copy.read_bytes())
    eof = int.from_bytes(data[28:36], "little")
    assert eof == len(data)
    data[28:36] = (eof + 4096).to_bytes(8, "little")   # a superblock claiming unwritten bytes
    data[44:48] = lookup3(bytes(data[:44])).to_bytes(4, "little")
    copy.write_bytes(bytes(data))
    with pytest.raises(OSError, match="truncated file"):
        h5py.File(copy, "r")
    assert clamp_eof(str(copy)) is True
    assert copy.read_bytes() == GOLDEN.read_bytes()
    with h5py.File(copy, "r") as f:
        assert int(f[L.D_ROWS_COMMITTED][0]) == 600


# ---- device -------------------------------------------------------------------------------
def test_record_device_cuda_without_cuda_says_so_and_stores_both(tmp_path):
    import torch
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    out = tmp_path / "dev.h5"
    res = _record(out, "--steps", "10", *RECORD, "--device", "cuda")
    assert res.returncode == 0, res.stderr
    lines = res.stderr.strip().splitlines()
    assert lines[0] == "nlviz: note: CUDA requested but not available; running on the CPU"
    assert "Traceback" not in res.stderr and len(lines) == 2
    with Recording.open(out) as rec:
        assert rec.device == "CPU"
        assert rec.device_requested == "cuda" and rec.config["run"]["device"] == "cuda"


def test_user_error_is_the_base_of_the_refusals():
    assert issubclass(OutputBusy, UserError) and issubclass(OutputExists, UserError)
