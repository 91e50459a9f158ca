"""The writer seals the root attributes with ``header_crc32`` (HDF5 keeps their text in
its global heap, without a checksum): a new recording verifies, and a flipped byte in its
device, stream or config text is refused in one line by ``info``."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py
import pytest

from nlviz.recording import layout as L
from nlviz.recording.reader import Recording
from nlviz.recording.validate import header_checksum
from nlviz.recording.writer import Recorder
from tests.support.synthetic import synthetic_batch, synthetic_spec

ROOT = Path(__file__).resolve().parents[2]
MARKS = {"device": "cpu-DEVICEMARK", "stream": "STREAMMARK stream",
         "config": "CONFIGMARK"}


def _record(path: Path, parent: tuple[str, int] | None = None) -> None:
    spec = synthetic_spec()
    with Recorder(path, spec, {"note": MARKS["config"]}, device=MARKS["device"],
                  stream=MARKS["stream"], parent=parent) as rec:
        rec.append(synthetic_batch(spec, 0, 50))


@pytest.mark.parametrize("parent", [None, ("base.h5", 1234)])
def test_new_recording_has_a_header_checksum_that_verifies(tmp_path, parent):
    p = tmp_path / "new.h5"
    _record(p, parent)
    with h5py.File(p, "r") as f:
        stored = int(f.attrs[L.A_HEADER_CRC])
        assert stored == header_checksum(f.attrs)
        assert (L.A_PARENT_STEP in f.attrs) == (parent is not None)   # sealed after it
    with Recording.open(p) as rec:
        assert rec.device == MARKS["device"] and rec.n_rows == 50
        assert rec.parent_step == (None if parent is None else 1234)


@pytest.mark.parametrize("field", ["device", "stream", "config"])
def test_a_flipped_byte_in_a_root_text_attribute_is_refused(tmp_path, field):
    p = tmp_path / "flip.h5"
    _record(p)
    data = bytearray(p.read_bytes())
    mark = MARKS[field].encode()
    at = data.find(mark)
    assert at > 0 and data.find(mark, at + 1) == -1      # the attribute's one copy
    data[at + 3] ^= 0x01                                  # e.g. DEVICEMARK -> DEWICEMARK
    p.write_bytes(bytes(data))
    res = subprocess.run([sys.executable, str(ROOT / "main.py"), "info", str(p)],
                         capture_output=True, text=True, timeout=60, cwd=ROOT,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert res.returncode == 2 and res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    assert lines[0].startswith(f"nlviz: error: {p}: root attribute header_crc32 is ")
    assert lines[0].endswith("the run description is damaged")
