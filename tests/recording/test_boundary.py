"""The recording package is the HDF5 layer only: importing it loads neither torch nor Qt."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODULES = ["nlviz.recording", "nlviz.recording.reader", "nlviz.recording.writer",
           "nlviz.recording.csv", "nlviz.recording.payloads", "nlviz.recording.filewriter",
           "nlviz.recording.records", "nlviz.recording.base"]


SCRIPT = """
import sys, tempfile, os
import {modules}
from engine.frames import FrameBatch, LevelSpec, RunSpec
from nlviz.recording.reader import Recording
from nlviz.recording.writer import Recorder
spec = RunSpec((LevelSpec("a", "cms", 1, (2, 2)),), d_in=2, probe_size=1)
path = os.path.join(tempfile.mkdtemp(), "r.h5")
with Recorder(path, spec, {{}}, device="cpu", stream="s") as rec:
    rec.append(FrameBatch.empty(spec))
with Recording.open(path) as rec:
    rec.events, rec.wall_time()
print(sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "PySide6", "pyqtgraph")))
"""


def test_writing_and_reading_a_recording_loads_no_torch_and_no_qt():
    code = SCRIPT.format(modules=", ".join(MODULES))
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"


def test_torch_version_comes_from_the_caller_or_the_loaded_torch(tmp_path):
    import torch

    from engine.frames import FrameBatch, LevelSpec, RunSpec
    from nlviz.recording.reader import Recording
    from nlviz.recording.writer import Recorder
    spec = RunSpec((LevelSpec("a", "cms", 1, (2, 2)),), d_in=2, probe_size=1)
    for name, given, want in (("given.h5", "9.9.9", "9.9.9"),
                              ("loaded.h5", None, str(torch.__version__))):
        with Recorder(tmp_path / name, spec, {}, device="cpu", stream="s",
                      torch_version=given) as rec:
            rec.append(FrameBatch.empty(spec))
        with Recording.open(tmp_path / name) as r:
            assert r.torch_version == want
