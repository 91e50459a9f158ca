"""Checkpoints (engine/checkpoint.py): an exact round trip, an atomic save, and every damaged
or incompatible file refused with one line naming the field or tensor and the value."""
from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from engine.checkpoint import (
    FORMAT,
    FORMAT_VERSION,
    CheckpointError,
    check_weights,
    load_checkpoint,
    model_identity,
    save_checkpoint,
)
from engine.config import Config, ModelConfig, TitansConfig

MODEL = Config().to_dict()["model"]


def _meta(**changes: Any) -> dict[str, Any]:
    meta = {"config": MODEL, "outer_steps": 120, "seed": 3,
            "tasks": {"assoc_recall": 0.5, "regime_shift": 0.5},
            "final_losses": {"assoc_recall": 0.125, "regime_shift": None},
            "nlviz_version": "0.9.0", "train_chunk": 8, "note": ["kept", {"as": "is"}]}
    meta.update(changes)
    return meta


def _weights() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {"titans/w1_0": torch.randn(5, 32, 32, generator=g),
            "cms0/w2_0": torch.randn(64, 32, generator=g, dtype=torch.float64),
            "w_in": torch.randn(32, 16, generator=g)}


def _error(path: Path) -> str:
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    text = str(info.value)
    assert "\n" not in text and "Traceback" not in text, text
    assert text.startswith(f"{path}: "), text
    return text[len(f"{path}: "):]


def _npz(path: Path, meta: Any = None, **arrays: np.ndarray) -> Path:
    """A file written by numpy's own ``savez``: members ``meta.npy`` and ``w.<name>.npy``."""
    members: dict[str, Any] = dict(arrays)
    if meta is not None:
        text = meta if isinstance(meta, str) else json.dumps(meta)
        members["meta"] = np.frombuffer(text.encode("utf-8"), np.uint8)
    np.savez(path, **members)
    return path


def _stored_meta(**changes: Any) -> dict[str, Any]:
    return {**_meta(), "format": FORMAT, "format_version": FORMAT_VERSION, **changes}


# ---- round trip ------------------------------------------------------------------------
def test_round_trip_is_exact(tmp_path):
    p = tmp_path / "model.npz"
    weights = {**_weights(), "half": torch.tensor([1.5, -2.25], dtype=torch.float16)}
    digest = save_checkpoint(p, weights, _meta())
    assert digest == hashlib.sha256(p.read_bytes()).hexdigest()
    ck = load_checkpoint(p)
    assert ck.sha256 == digest and ck.path == str(p)
    assert ck.meta == _stored_meta()
    assert sorted(ck.weights) == sorted(weights)
    for key, w in weights.items():
        want = w.double() if w.dtype == torch.float64 else w.float()
        assert ck.weights[key].dtype == want.dtype                  # float32 unless float64
        assert torch.equal(ck.weights[key], want), key
    assert ck.weights["cms0/w2_0"].dtype == torch.float64
    assert ck.model_config == ModelConfig()
    with np.load(p, allow_pickle=False) as z:                       # a plain numpy archive
        assert "w.titans%2Fw1_0" in z.files
        np.testing.assert_array_equal(z["w.w_in"], weights["w_in"].numpy())


def test_same_content_same_bytes(tmp_path):
    a = save_checkpoint(tmp_path / "a.npz", _weights(), _meta())
    b = save_checkpoint(tmp_path / "b.npz", dict(reversed(_weights().items())), _meta())
    assert a == b
    assert a != save_checkpoint(tmp_path / "c.npz", _weights(), _meta(outer_steps=121))


def test_model_config_round_trips_a_non_default_model(tmp_path):
    cfg = ModelConfig(d=8, titans=TitansConfig(hidden=4, chunk_size=2))
    meta = _meta(config=Config(model=cfg).to_dict()["model"])
    save_checkpoint(tmp_path / "m.npz", _weights(), meta)
    assert load_checkpoint(tmp_path / "m.npz").model_config == cfg


# ---- atomic save -------------------------------------------------------------------------
@pytest.mark.parametrize("failing", ["replace", "fsync"])
def test_a_failing_save_leaves_the_old_file_and_no_other(tmp_path, monkeypatch, failing):
    p = tmp_path / "model.npz"
    save_checkpoint(p, _weights(), _meta())
    old = p.read_bytes()

    def boom(*_args: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, failing, boom)
    with pytest.raises(CheckpointError) as info:
        save_checkpoint(p, _weights(), _meta(outer_steps=999))
    assert str(info.value) == f"{p}: cannot write checkpoint: No space left on device"
    assert p.read_bytes() == old
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]            # no temporary left


def test_a_failing_first_save_leaves_no_file(tmp_path, monkeypatch):
    p = tmp_path / "model.npz"
    monkeypatch.setattr(os, "replace", lambda *_a: (_ for _ in ()).throw(OSError(5, "I/O error")))
    with pytest.raises(CheckpointError, match="cannot write checkpoint: I/O error"):
        save_checkpoint(p, _weights(), _meta())
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(("weights", "meta", "message"), [
    ({"w_in": torch.tensor([1.0, float("nan"), float("inf"), -float("inf")])}, _meta(),
     "tensor w_in has 3 non-finite values"),
    ({"w_in": torch.tensor([1, 2])}, _meta(),
     "tensor w_in has dtype torch.int64, expected a floating-point tensor"),
    ({"": torch.zeros(2)}, _meta(), "tensor name '' must be a non-empty string"),
    (_weights(), {k: v for k, v in _meta().items() if k != "seed"},
     "metadata field seed is missing"),
    (_weights(), _meta(final_losses={"a": float("nan")}),
     "metadata field final_losses.a: nan must be a finite number or null"),
    (_weights(), _meta(note=object()), "metadata cannot be stored as JSON"),
])
def test_save_refuses_what_load_would_refuse(tmp_path, weights, meta, message):
    p = tmp_path / "model.npz"
    with pytest.raises(CheckpointError) as info:
        save_checkpoint(p, weights, meta)
    assert str(info.value).startswith(f"{p}: {message}"), str(info.value)
    assert os.listdir(tmp_path) == []


# ---- damaged and foreign files -------------------------------------------------------------
def test_missing_file(tmp_path):
    assert _error(tmp_path / "model.npz") == "no such file"


def test_not_a_zip(tmp_path):
    p = tmp_path / "model.npz"
    p.write_text("hello, I am a text file\n")
    assert _error(p) == "not an nlviz checkpoint (not a zip archive)"


def test_truncated_file(tmp_path):
    p = tmp_path / "model.npz"
    save_checkpoint(p, _weights(), _meta())
    data = p.read_bytes()
    p.write_bytes(data[:len(data) // 2])
    assert _error(p) == ("truncated or damaged checkpoint (the zip archive's directory cannot "
                         "be read)")


@pytest.mark.parametrize("where", [0.25, 0.5, 0.75])
def test_a_flipped_byte_inside_a_stored_array(tmp_path, where):
    p = tmp_path / "model.npz"
    save_checkpoint(p, _weights(), _meta())
    data = bytearray(p.read_bytes())
    with zipfile.ZipFile(p) as zf:
        info = zf.getinfo("w.titans%2Fw1_0.npy")
    # the data starts after the local header (its extra field may differ from the central one)
    local_extra = int.from_bytes(data[info.header_offset + 28:info.header_offset + 30], "little")
    start = info.header_offset + 30 + len(info.filename) + local_extra
    at = start + int(info.compress_size * where)
    data[at] ^= 0x10
    p.write_bytes(bytes(data))
    assert _error(p).startswith("tensor titans/w1_0 is damaged (")


def test_missing_metadata(tmp_path):
    p = _npz(tmp_path / "model.npz", None, **{"w.w_in": np.zeros(3, np.float32)})
    assert _error(p) == "not an nlviz checkpoint (no metadata meta.npy)"


@pytest.mark.parametrize(("meta", "message"), [
    ("{not json", "metadata is not JSON: "),
    ([1, 2], "metadata is a JSON list, expected an object"),
    (_stored_meta(format="other.format"),
     "not an nlviz checkpoint (format is 'other.format', expected 'nlviz.checkpoint')"),
    ({k: v for k, v in _stored_meta().items() if k != "format"},
     "not an nlviz checkpoint (format is None, expected 'nlviz.checkpoint')"),
    (_stored_meta(format_version=7), "format_version 7 is newer than this nlviz reads (1)"),
    (_stored_meta(format_version="1"), "metadata field format_version: '1' must be an integer >= 1"),
    (_stored_meta(outer_steps="x"), "metadata field outer_steps: 'x' must be an integer"),
    (_stored_meta(outer_steps=-1), "metadata field outer_steps: -1 must be an integer >= 0"),
    (_stored_meta(seed=True), "metadata field seed: True must be an integer"),
    (_stored_meta(train_chunk=0), "metadata field train_chunk: 0 must be an integer >= 1"),
    (_stored_meta(nlviz_version=3), "metadata field nlviz_version: 3 must be a string"),
    (_stored_meta(tasks=["a"]), "metadata field tasks: ['a'] must be an object"),
    (_stored_meta(tasks={"text": "lots"}),
     "metadata field tasks.text: 'lots' must be a finite number >= 0"),
    (_stored_meta(final_losses={"text": "x"}),
     "metadata field final_losses.text: 'x' must be a finite number or null"),
    (_stored_meta(final_losses=None), "metadata field final_losses: None must be an object"),
    (_stored_meta(config="tiny"), "metadata field config: 'tiny' must be an object"),
    (_stored_meta(config={**MODEL, "d": "x"}), "metadata field config.d: 'x' must be an integer"),
    (_stored_meta(config={**MODEL, "titans": {"kind": "tree"}}),
     "metadata field config.titans.kind: 'tree' is not one of mlp, linear"),
    (_stored_meta(config={**MODEL, "depth": 3}), "metadata field config.depth: unknown key"),
    (_stored_meta(config={**MODEL, "d": 0}),
     "metadata field config.d: 0 must be an integer >= 1"),
    ({k: v for k, v in _stored_meta().items() if k != "train_chunk"},
     "metadata field train_chunk is missing"),
])
def test_bad_metadata_is_refused(tmp_path, meta, message):
    p = _npz(tmp_path / "model.npz", meta, **{"w.w_in": np.zeros(3, np.float32)})
    assert _error(p).startswith(message)


@pytest.mark.parametrize(("array", "message"), [
    (np.arange(4), "tensor titans/w1_0 has dtype int64, expected a float array"),
    (np.array([1.0, np.nan, np.inf, 2.0], np.float32), "tensor titans/w1_0 has 2 non-finite values"),
    (np.array([{"a": 1}, None], dtype=object),
     "tensor titans/w1_0 is an object array (refused: loading it would need pickle)"),
])
def test_bad_weights_are_refused(tmp_path, array, message):
    p = _npz(tmp_path / "model.npz", _stored_meta(), **{"w.titans%2Fw1_0": array})
    assert _error(p) == message


def test_an_object_array_as_metadata_is_refused(tmp_path):
    p = tmp_path / "model.npz"
    np.savez(p, meta=np.array([_stored_meta()], dtype=object))
    assert _error(p) == "metadata is an object array (refused: loading it would need pickle)"


def test_an_unexpected_member_is_refused(tmp_path):
    p = _npz(tmp_path / "model.npz", _stored_meta(), **{"optimizer": np.zeros(2)})
    assert _error(p) == "unexpected archive member 'optimizer.npy'"


def test_an_array_shorter_than_its_header_is_refused(tmp_path):
    p = tmp_path / "model.npz"
    save_checkpoint(p, {"w_in": torch.zeros(4, 4)}, _meta())
    with zipfile.ZipFile(p) as zf:
        meta, arr = zf.read("meta.npy"), zf.read("w.w_in.npy")
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("meta.npy", meta)
        zf.writestr("w.w_in.npy", arr[:-8])                   # consistent CRC, short body
    assert _error(p) == ("tensor w_in has shape (4, 4) of float32 (64 bytes) but holds "
                         "56 bytes")


def test_big_endian_and_fortran_arrays_load_in_native_order(tmp_path):
    a = np.asfortranarray(np.arange(6, dtype=">f8").reshape(2, 3))
    p = _npz(tmp_path / "model.npz", _stored_meta(), **{"w.w": a})
    got = load_checkpoint(p).weights["w"]
    assert got.dtype == torch.float64 and torch.equal(got, torch.arange(6.0).reshape(2, 3).double())


# ---- against a model ---------------------------------------------------------------------
def _loaded(tmp_path: Path):
    p = tmp_path / "model.npz"
    save_checkpoint(p, _weights(), _meta())
    return load_checkpoint(p)


def test_check_weights_accepts_the_same_names_and_shapes(tmp_path):
    check_weights(_loaded(tmp_path), {k: torch.zeros_like(v) for k, v in _weights().items()})


def test_check_weights_refuses_a_shape_mismatch(tmp_path):
    ck = _loaded(tmp_path)
    template = {**_weights(), "titans/w1_0": torch.zeros(5, 32, 16)}
    with pytest.raises(CheckpointError) as info:
        check_weights(ck, template)
    assert str(info.value) == (f"{ck.path}: tensor titans/w1_0 has shape (5, 32, 32), "
                               "expected (5, 32, 16)")


def test_check_weights_refuses_a_missing_tensor(tmp_path):
    ck = _loaded(tmp_path)
    with pytest.raises(CheckpointError) as info:
        check_weights(ck, {**_weights(), "w_out": torch.zeros(16, 32)})
    assert str(info.value) == f"{ck.path}: tensor w_out is missing (the model needs shape (16, 32))"


def test_check_weights_refuses_an_extra_tensor(tmp_path):
    ck = _loaded(tmp_path)
    template = {k: v for k, v in _weights().items() if k != "w_in"}
    with pytest.raises(CheckpointError) as info:
        check_weights(ck, template)
    assert str(info.value) == (f"{ck.path}: unexpected tensor w_in (shape (32, 16)): this "
                               "model has no such weight (1 extra)")


def test_model_identity(tmp_path):
    assert model_identity(None) == {"name": "random", "sha256": "", "meta": {}}
    ck = _loaded(tmp_path)
    ident = model_identity(ck)
    assert ident["name"] == "model.npz" and ident["sha256"] == ck.sha256
    assert len(ident["sha256"]) == 64
    want = {k: v for k, v in _stored_meta().items() if k != "config"}
    assert ident["meta"] == want and ident["meta"]["outer_steps"] == 120
    assert json.loads(json.dumps(ident)) == ident


def test_ctrl_c_during_a_save_leaves_the_old_file_and_no_other(tmp_path, monkeypatch):
    """Training saves on Ctrl-C; a second Ctrl-C inside the save must not cost the old file."""
    p = tmp_path / "model.npz"
    save_checkpoint(p, _weights(), _meta())
    old = p.read_bytes()

    def interrupted(*_args: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(p, _weights(), _meta(outer_steps=999))
    assert p.read_bytes() == old and sorted(os.listdir(tmp_path)) == ["model.npz"]
