"""Schema 1.3: every recording stores which model it ran (root attribute ``model_json``),
sealed by the header CRC, shown by ``nlviz info``; older files read as model "unknown"."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import h5py
import pytest
import torch

from engine.checkpoint import load_checkpoint, model_identity, save_checkpoint
from engine.config import Config
from nlviz.errors import UserError
from nlviz.recording import layout as L
from nlviz.recording.filewriter import seal_header
from nlviz.recording.reader import Recording, RecordingError
from nlviz.recording.writer import Recorder
from tests.support.synthetic import synthetic_batch, synthetic_spec

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
SHA = "0123456789abcdef" * 4
MODEL = {"name": "trained-MODELMARK.npz", "sha256": SHA,
         "meta": {"outer_steps": 2000, "seed": 7, "tasks": {"assoc_recall": 0.25, "text": 0.75},
                  "final_losses": {"assoc_recall": 0.0625, "text": None},
                  "nlviz_version": "0.9.0", "train_chunk": 8, "format": "nlviz.checkpoint",
                  "format_version": 1, "note": "Grüße"}}


def _record(path: Path, **kwargs: Any) -> Path:
    spec = synthetic_spec()
    with Recorder(path, spec, {"note": "config"}, device="cpu", stream="synthetic",
                  **kwargs) as rec:
        rec.append(synthetic_batch(spec, 0, 20))
    return path


def _info(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "main.py"), "info", str(path)],
                          capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))


def _error(path: Path) -> str:
    with pytest.raises(RecordingError) as info:
        Recording.open(path)
    text = str(info.value)
    assert "\n" not in text and text.startswith(f"{path}: "), text
    return text[len(f"{path}: "):]


def test_the_model_reads_back_equal(tmp_path):
    p = _record(tmp_path / "run.h5", model=MODEL)
    with Recording.open(p) as rec:
        assert rec.schema_version == "1.4"
        assert rec.model == MODEL
    with h5py.File(p, "r") as f:
        assert int(f.attrs[L.A_HEADER_CRC]) != 0 and L.A_MODEL_JSON in f.attrs


def test_no_model_is_a_random_start(tmp_path):
    with Recording.open(_record(tmp_path / "run.h5")) as rec:
        assert rec.model == {"name": "random", "sha256": "", "meta": {}}


def test_a_checkpoints_identity_round_trips(tmp_path):
    ck_path = tmp_path / "hope.npz"
    meta = {"config": Config().to_dict()["model"], "outer_steps": 12, "seed": 1,
            "tasks": {"regime_shift": 1.0}, "final_losses": {"regime_shift": 0.5},
            "nlviz_version": "0.9.0", "train_chunk": 4}
    digest = save_checkpoint(ck_path, {"w_in": torch.ones(3, 2)}, meta)
    ident = model_identity(load_checkpoint(ck_path))
    with Recording.open(_record(tmp_path / "run.h5", model=ident)) as rec:
        assert rec.model == ident
        assert rec.model["sha256"] == digest and rec.model["name"] == "hope.npz"
        assert "config" not in rec.model["meta"] and rec.model["meta"]["outer_steps"] == 12


@pytest.mark.parametrize(("model", "problem"), [
    ("trained.npz", "model identity: str instead of an object"),
    ({"name": "a.npz", "sha256": SHA}, "model identity: field meta is None, expected a dict"),
    ({"name": 3, "sha256": SHA, "meta": {}}, "model identity: field name is 3, expected a str"),
    ({"name": "a.npz", "sha256": SHA, "meta": {"loss": float("nan")}},
     "model identity cannot be stored as JSON"),
])
def test_a_bad_model_is_refused_before_the_file_is_created(tmp_path, model, problem):
    p = tmp_path / "run.h5"
    with pytest.raises(UserError) as info:
        _record(p, model=model)
    assert str(info.value).startswith(f"{p}: {problem}"), str(info.value)
    assert "\n" not in str(info.value) and not p.exists()


def test_the_header_checksum_covers_the_model(tmp_path):
    p = _record(tmp_path / "flip.h5", model=MODEL)
    data = bytearray(p.read_bytes())
    mark = b"MODELMARK"
    at = data.find(mark)
    assert at > 0 and data.find(mark, at + 1) == -1      # the attribute's one copy
    data[at + 2] ^= 0x01                                  # MODELMARK -> MOEELMARK
    p.write_bytes(bytes(data))
    res = _info(p)
    assert res.returncode == 2 and res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    assert lines[0].startswith(f"nlviz: error: {p}: root attribute header_crc32 is ")
    assert lines[0].endswith("the run description is damaged")


def test_a_1_3_file_without_its_model_is_refused(tmp_path):
    p = _record(tmp_path / "run.h5", model=MODEL)
    with h5py.File(p, "r+") as f:
        del f.attrs[L.A_MODEL_JSON]
        seal_header(f)
    assert _error(p) == ("missing root attribute 'model_json' (schema 1.4 stores the model "
                         "the run used)")


@pytest.mark.parametrize(("text", "problem"), [
    ("{oops", "root attribute model_json is not JSON (JSONDecodeError)"),
    ("[1, 2]", "root attribute model_json: list instead of an object"),
    ('{"name": "a", "sha256": 5, "meta": {}}',
     "root attribute model_json: field sha256 is 5, expected a str"),
])
def test_a_malformed_model_is_refused(tmp_path, text, problem):
    p = _record(tmp_path / "run.h5", model=MODEL)
    with h5py.File(p, "r+") as f:
        f.attrs[L.A_MODEL_JSON] = text
        seal_header(f)
    assert _error(p) == problem


@pytest.mark.parametrize("name", ["recording_v1_0.h5", "recording_v1_1.h5"])
def test_old_files_read_as_an_unknown_model(name):
    with Recording.open(DATA / name) as rec:
        assert rec.schema_version < "1.3"
        assert rec.model == {"name": "unknown", "sha256": "", "meta": {}}
    res = _info(DATA / name)
    assert res.returncode == 0, res.stderr
    assert "\nmodel:          unknown (recorded before schema 1.3)\n" in res.stdout


def test_info_prints_the_model_line(tmp_path):
    res = _info(_record(tmp_path / "run.h5", model=MODEL))
    assert res.returncode == 0, res.stderr
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("model:")]
    assert lines == ["model:          trained-MODELMARK.npz sha256 0123456789ab (2000 outer steps)"]
    res = _info(_record(tmp_path / "random.h5"))
    assert [ln for ln in res.stdout.splitlines() if ln.startswith("model:")] == \
        ["model:          random"]
