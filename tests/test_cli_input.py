"""Bad input on the command line: every bad stream file and every config value that used
to pass validation and fail later ends in exit code 2 and exactly one stderr line
``nlviz: error: ...`` naming the field or file and the value, with no traceback and no
output file. Most cases run in-process (``nlviz.cli.main``); a few run ``main.py`` in a
subprocess to prove the whole path (a FIFO must not block, a corrupt header must not
escape as a tokenizer error)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nlviz.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _record(tmp_path: Path, *extra: str) -> list[str]:
    return ["record", "--preset", "tiny", "--out", str(tmp_path / "out.h5"), "--steps", "2",
            "--no-progress", *extra]


def _refused(capsys, tmp_path: Path, argv: list[str]) -> str:
    """Run in-process; assert exit 2, one stderr line, no output file; return the line."""
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("nlviz: error: "), err
    assert "Traceback" not in err
    assert not (tmp_path / "out.h5").exists()
    return lines[0][len("nlviz: error: "):]


def _npy(tmp_path: Path, name: str, arr: np.ndarray) -> Path:
    p = tmp_path / name
    np.save(p, arr, allow_pickle=arr.dtype.hasobject)
    return p


def _bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """name -> (path, the end of the expected message after 'stream.path: <path>')."""
    good = _npy(tmp_path, "good.npy", np.ones((10, 8), np.float32))
    raw = good.read_bytes()
    out: dict[str, tuple[Path, str]] = {}

    def put(name: str, data: bytes, end: str) -> None:
        (tmp_path / name).write_bytes(data)
        out[name] = (tmp_path / name, end)

    put("empty.npy", b"", " is empty (0 bytes), not a .npy file")
    put("header.npy", b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f4', 'fortran_order': False, "
                      b"'shape': (3,", " is not a valid .npy file (EOF in multi-line statement)")
    put("short.npy", raw[:-4], " is truncated: its header declares shape (10, 8) (320 bytes of "
                               "data) but 316 bytes follow it")
    out["complex"] = (_npy(tmp_path, "complex.npy", np.zeros((4, 8), np.complex128)),
                      " has dtype complex128, complex: the imaginary part would be lost")
    out["strings"] = (_npy(tmp_path, "strings.npy", np.full((4, 8), "a")),
                      " has dtype <U1, expected real numbers (integer or float)")
    out["objects"] = (_npy(tmp_path, "objects.npy", np.array([[None] * 8], dtype=object)),
                      " has dtype object, expected real numbers (integer or float)")
    out["3d"] = (_npy(tmp_path, "cube.npy", np.zeros((2, 3, 8), np.float32)),
                 " has shape (2, 3, 8), expected (T, 8)")
    out["width"] = (_npy(tmp_path, "wide.npy", np.zeros((4, 9), np.float32)),
                    " has width 9, but model.d_in is 8")
    out["rows"] = (_npy(tmp_path, "rows.npy", np.zeros((0, 8), np.float32)),
                   " has no rows (shape (0, 8))")
    nan = np.zeros((9, 8))
    nan[7, 2] = np.nan
    out["nan"] = (_npy(tmp_path, "nan.npy", nan), " row 7, column 2 is nan; NaN and inf are "
                                                  "not allowed")
    out["missing"] = (tmp_path / "missing.npy", ": No such file or directory")
    (tmp_path / "dir.npy").mkdir()
    out["dir"] = (tmp_path / "dir.npy", " is a directory, not a regular file")
    os.mkfifo(tmp_path / "fifo.npy")
    out["fifo"] = (tmp_path / "fifo.npy", " is a FIFO (named pipe), not a regular file")
    os.mkfifo(tmp_path / "fifo.txt")
    out["fifo_text"] = (tmp_path / "fifo.txt", " is a FIFO (named pipe), not a regular file")
    return out


def test_record_refuses_every_bad_stream_file_in_one_line(tmp_path, capsys):
    for name, (path, end) in _bad_files(tmp_path).items():
        line = _refused(capsys, tmp_path, _record(tmp_path, "--stream", str(path)))
        assert line == f"stream.path: {path}{end}", name


@pytest.mark.parametrize("extra,line", [
    (["--set", "model.cms.periods=[99999999999999999999]"],
     "model.cms.periods[0]: 99999999999999999999 is too large (at most 2147483647)"),
    (["--seed", str(2**70)],
     "run.seed: 1180591620717411303424 is too large (at most 9223372036854775807)"),
    (["--seed", "-1"], "run.seed: -1 must be an integer >= 0"),
    (["--set", "model.titans.chunk_size=99999999999999999999"],
     "model.titans.chunk_size: 99999999999999999999 is too large (at most 1048576)"),
    (["--set", "run.probe_size=2000000"], "run.probe_size: 2000000 is too large (at most 1048576)"),
    (["--set", "model.titans.hidden=100000000"],
     "model.titans.hidden: 100000000 is too large (at most 16777216)"),
    (["--set", "stream.noise=nan"], "stream.noise: nan must be a number in [0, 1e+06]"),
    (["--set", "stream.n_regimes=1000000"],
     "stream.n_regimes: 1000000 must be an integer in [1, 26]"),
])
def test_record_refuses_values_that_used_to_fail_later(tmp_path, capsys, extra, line):
    assert _refused(capsys, tmp_path, _record(tmp_path, *extra)) == line


def test_record_refuses_a_model_larger_than_memory(tmp_path, capsys):
    from engine.budget import estimate_memory, format_bytes, host_available_memory
    from nlviz.config_loader import load_config

    line = _refused(capsys, tmp_path, _record(tmp_path, "--set", "model.d=10000000"))
    cfg = load_config("tiny", ["model.d=10000000"])
    need = format_bytes(estimate_memory(cfg.model, cfg.run).total)
    assert need.endswith(" PB")
    assert line.startswith(f"model.d=10000000: the model needs about {need}, more than the ")
    avail = line.split(", more than the ")[1]
    value, unit, word = avail.split()
    assert word == "available"
    available = host_available_memory()
    assert available is not None
    now = format_bytes(available).split()
    assert unit == now[1] and 0.5 < float(value) / float(now[0]) < 2  # what the machine has


def test_record_without_cms_levels_writes_a_valid_recording(tmp_path, capsys):
    from nlviz.recording.reader import Recording

    out = tmp_path / "out.h5"
    assert main(["record", "--preset", "tiny", "--out", str(out), "--steps", "40",
                 "--no-progress", "--set", "model.cms.periods=[]"]) == 0
    rec = Recording.open(out)
    try:
        assert rec.n_rows == 40
        assert list(rec.spec.level_names) == ["memory", "k", "v", "eta", "alpha"]
        assert rec.config["model"]["cms"]["periods"] == []
    finally:
        rec.close()
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    assert "levels:         5" in capsys.readouterr().out


# ---- the whole path, in a fresh process ---------------------------------------------------
def _run(*argv: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen")
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *argv], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def _one_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("nlviz: error: "), proc.stderr
    return lines[0]


@pytest.mark.slow        # child processes (main.py) that import torch, one per bad input
def test_main_refuses_a_fifo_and_a_corrupt_header_without_hanging(tmp_path):
    files = _bad_files(tmp_path)
    fifo, end = files["fifo"]
    proc = _run(*_record(tmp_path, "--stream", str(fifo)))
    assert _one_line(proc) == f"nlviz: error: stream.path: {fifo}{end}"
    header, end = files["header.npy"]
    proc = _run(*_record(tmp_path, "--stream", str(header), "--seed", str(2**70)))
    # the seed is refused first: it is checked with the config, before the stream is opened
    assert _one_line(proc) == ("nlviz: error: run.seed: 1180591620717411303424 is too large "
                               "(at most 9223372036854775807)")
    proc = _run(*_record(tmp_path, "--stream", str(header)))
    assert _one_line(proc) == f"nlviz: error: stream.path: {header}{end}"
    assert not (tmp_path / "out.h5").exists()


def test_app_refuses_a_bad_stream_file_in_one_line(tmp_path):
    header, end = _bad_files(tmp_path)["header.npy"]
    proc = _run("--stream", str(header), "--screenshot", str(tmp_path / "shot.png"))
    assert _one_line(proc) == f"nlviz: error: stream.path: {header}{end}"
    assert not (tmp_path / "shot.png").exists()


def test_record_refuses_a_preset_that_is_not_a_regular_file(tmp_path, capsys):
    fifo = tmp_path / "preset.toml"
    os.mkfifo(fifo)                       # reading it would block
    argv = ["record", "--preset", str(fifo), "--out", str(tmp_path / "out.h5"), "--steps", "2"]
    assert _refused(capsys, tmp_path, argv) == f"{fifo}: preset is not a regular file"
    assert _refused(capsys, tmp_path, argv[:2] + [str(tmp_path / "none.toml")] + argv[3:]) == \
        f"{tmp_path / 'none.toml'}: preset file not found"


def test_output_cut_by_the_reader_ends_quietly():
    """`nlviz info run.h5 | head -1`: the reader closes the pipe before nlviz has written;
    nlviz stops with SIGPIPE's usual status and no traceback."""
    golden = Path(__file__).resolve().parent / "data" / "recording_v1_1.h5"
    proc = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "info", str(golden)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()              # before the child has imported anything: it writes later
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141, err
    assert err == ""
