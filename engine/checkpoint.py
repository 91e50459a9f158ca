"""Checkpoints of trained HOPE models: one ``.npz`` file (a zip of ``.npy`` arrays).

Layout of the archive (``np.load(path, allow_pickle=False)`` reads it too):

- ``meta.npy``: uint8 (B,) UTF-8 JSON object, the metadata (``REQUIRED_META`` and any
  other keys, plus ``format`` and ``format_version``);
- ``w.<name>.npy``: one weight array each, float32 or float64; ``<name>`` is the weight's
  name percent-encoded (``urllib.parse.quote(name, safe="")``, so ``titans/w1_0`` is
  stored as ``w.titans%2Fw1_0.npy``): any string is a safe member name.

Members are written in name order with a fixed time stamp, so the same weights and
metadata always give the same bytes (and sha256). Loading never unpickles: every array
header is parsed and its size checked against the bytes stored before anything is
allocated, and each member's zip CRC is checked. Every refusal is a ``CheckpointError``
with one line ``"<path>: <problem>"`` naming the field or tensor and the value.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import zipfile
from dataclasses import dataclass
from typing import Any, TypeGuard
from urllib.parse import quote, unquote

import numpy as np
import torch

from engine.config import ConfigError, ModelConfig, _build, _short
from engine.npz_io import NpyError, read_npy, write_atomic, zip_arrays

FORMAT = "nlviz.checkpoint"
FORMAT_VERSION = 1
META_MEMBER = "meta.npy"
WEIGHT_PREFIX = "w."
_ZIP_MAGIC = b"PK\x03\x04"


class CheckpointError(ValueError):
    """A checkpoint that cannot be written or read; one line ``"<path>: <problem>"``."""


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint.

    Attributes
    ----------
    weights : name -> tensor (float32 or float64, CPU), as saved.
    meta : the stored metadata (with ``format`` and ``format_version``).
    sha256 : hex digest of the file's bytes.
    path : the path it was loaded from, as given.
    """

    weights: dict[str, torch.Tensor]
    meta: dict[str, Any]
    sha256: str
    path: str

    @property
    def model_config(self) -> ModelConfig:
        """The model's configuration (``meta["config"]``, validated on load)."""
        return _model_config(self.meta["config"], self.path)


# ---- saving ------------------------------------------------------------------------------
def save_checkpoint(path: str | os.PathLike[str], weights: dict[str, torch.Tensor],
                    meta: dict[str, Any]) -> str:
    """Write ``weights`` and ``meta`` to ``path`` atomically; returns the file's sha256.

    The file is written under a temporary name in the same directory, fsync'ed and
    renamed over ``path``: a failed or interrupted save leaves any old file untouched
    and never a partial file under ``path``. Weights are stored as float32 (float64 ones
    keep their dtype). ``meta`` must hold ``REQUIRED_META`` (checked as on load, so a file
    this writes always loads); ``format`` and ``format_version`` are added.

    Raises
    ------
    CheckpointError : invalid weights or metadata, or the file cannot be written.
    """
    name = os.fspath(path)
    stored = {**meta, "format": FORMAT, "format_version": FORMAT_VERSION}
    _check_meta(stored, name)
    try:
        text = json.dumps(stored, sort_keys=True, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{name}: metadata cannot be stored as JSON: {exc}") from None
    arrays = {META_MEMBER: np.frombuffer(text.encode("utf-8"), np.uint8)}
    for key, value in weights.items():
        arrays[_member(key, name)] = _weight_array(key, value, name)
    payload = zip_arrays(arrays)
    try:
        write_atomic(name, payload)
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise CheckpointError(f"{name}: cannot write checkpoint: {reason}") from None
    return hashlib.sha256(payload).hexdigest()


def _member(key: object, path: str) -> str:
    if not isinstance(key, str) or not key:
        raise CheckpointError(f"{path}: tensor name {key!r} must be a non-empty string")
    return f"{WEIGHT_PREFIX}{quote(key, safe='')}.npy"


def _weight_array(key: str, value: Any, path: str) -> np.ndarray:
    """(shape) float32/float64 C-contiguous copy of one weight, checked finite."""
    t = torch.as_tensor(value).detach()
    if not t.is_floating_point():
        raise CheckpointError(f"{path}: tensor {key} has dtype {t.dtype}, expected a "
                              "floating-point tensor")
    t = t.to("cpu", torch.float64 if t.dtype == torch.float64 else torch.float32)
    arr = np.ascontiguousarray(t.numpy())
    _check_finite(key, arr, path)
    return arr


# ---- loading -----------------------------------------------------------------------------
def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read and check a checkpoint written by ``save_checkpoint``.

    Raises
    ------
    CheckpointError : missing or unreadable file, not a zip archive, truncated or damaged
        archive (zip CRC), missing or malformed metadata, another format, a newer
        ``format_version``, a required field missing or of the wrong type, a weight that
        is not a float array (object arrays included) or holds NaN/inf.
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise CheckpointError(f"{name}: no such file") from None
    except OSError as exc:
        raise CheckpointError(f"{name}: cannot read: {exc.strerror or exc}") from None
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        if data.startswith(_ZIP_MAGIC):
            raise CheckpointError(f"{name}: truncated or damaged checkpoint (the zip archive's "
                                  "directory cannot be read)") from None
        raise CheckpointError(f"{name}: not an nlviz checkpoint (not a zip archive)") from None
    with zf:
        members = zf.namelist()
        if META_MEMBER not in members:
            raise CheckpointError(f"{name}: not an nlviz checkpoint (no metadata {META_MEMBER})")
        meta = _read_meta(zf, name)
        weights: dict[str, torch.Tensor] = {}
        for member in members:
            if member == META_MEMBER:
                continue
            if not (member.startswith(WEIGHT_PREFIX) and member.endswith(".npy")):
                raise CheckpointError(f"{name}: unexpected archive member {member!r}")
            key = unquote(member[len(WEIGHT_PREFIX):-len(".npy")])
            if key in weights:
                raise CheckpointError(f"{name}: tensor {key} is stored twice")
            arr = _read_array(zf, member, f"tensor {key}", name)
            if arr.dtype.kind != "f":
                raise CheckpointError(f"{name}: tensor {key} has dtype {arr.dtype}, "
                                      "expected a float array")
            _check_finite(key, arr, name)
            weights[key] = torch.from_numpy(arr)
    return Checkpoint(weights, meta, hashlib.sha256(data).hexdigest(), name)


def _read_meta(zf: zipfile.ZipFile, path: str) -> dict[str, Any]:
    arr = _read_array(zf, META_MEMBER, "metadata", path)
    if arr.dtype != np.uint8 or arr.ndim != 1:
        raise CheckpointError(f"{path}: metadata has dtype {arr.dtype} and shape "
                              f"{_shape(arr.shape)}, expected uint8 (n,) UTF-8 JSON")
    try:
        meta = json.loads(arr.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise CheckpointError(f"{path}: metadata is not JSON: {_one_line(exc)}") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: metadata is a JSON {type(meta).__name__}, "
                              "expected an object")
    fmt = meta.get("format")
    if fmt != FORMAT:
        raise CheckpointError(f"{path}: not an nlviz checkpoint (format is {fmt!r}, "
                              f"expected {FORMAT!r})")
    version = meta.get("format_version")
    if not _is_int(version) or version < 1:
        raise CheckpointError(f"{path}: metadata field format_version: {version!r} must be "
                              "an integer >= 1")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{path}: format_version {version} is newer than this nlviz "
                              f"reads ({FORMAT_VERSION})")
    _check_meta(meta, path)
    return meta


def _read_array(zf: zipfile.ZipFile, member: str, what: str, path: str) -> np.ndarray:
    try:
        return read_npy(zf, member)
    except NpyError as exc:
        raise CheckpointError(f"{path}: {what} {exc}") from None


# ---- metadata ----------------------------------------------------------------------------
REQUIRED_META = ("config", "outer_steps", "seed", "tasks", "final_losses", "nlviz_version",
                 "train_chunk")


def _check_meta(meta: dict[str, Any], path: str) -> None:
    """Every required field present and of its type (the config is built and validated)."""
    def bad(field: str, value: Any, want: str) -> CheckpointError:
        return CheckpointError(f"{path}: metadata field {field}: {_short(value)} must be {want}")

    for key in REQUIRED_META:
        if key not in meta:
            raise CheckpointError(f"{path}: metadata field {key} is missing")
    for key, lo in (("outer_steps", 0), ("seed", 0), ("train_chunk", 1)):
        v = meta[key]
        if not _is_int(v):
            raise bad(key, v, "an integer")
        if v < lo:
            raise bad(key, v, f"an integer >= {lo}")
    if not isinstance(meta["nlviz_version"], str):
        raise bad("nlviz_version", meta["nlviz_version"], "a string")
    tasks = meta["tasks"]
    if not isinstance(tasks, dict):
        raise bad("tasks", tasks, "an object (task name -> weight)")
    for task, w in tasks.items():
        if not _is_number(w) or w < 0:
            raise bad(f"tasks.{task}", w, "a finite number >= 0")
    losses = meta["final_losses"]
    if not isinstance(losses, dict):
        raise bad("final_losses", losses, "an object (name -> loss)")
    for key, v in losses.items():
        if v is not None and not _is_number(v):
            raise bad(f"final_losses.{key}", v, "a finite number or null")
    _model_config(meta["config"], path)


def _model_config(config: Any, path: str) -> ModelConfig:
    if not isinstance(config, dict):
        raise CheckpointError(f"{path}: metadata field config: {_short(config)} must be an "
                              "object (the model configuration)")
    try:
        model: ModelConfig = _build(ModelConfig, config, "config")
        model.validate("config")
    except ConfigError as exc:
        raise CheckpointError(f"{path}: metadata field {_one_line(exc)}") from None
    except (TypeError, ValueError, OverflowError) as exc:   # e.g. a list where a table goes
        raise CheckpointError(f"{path}: metadata field config: {_one_line(exc)}") from None
    return model


# ---- weights against a model ---------------------------------------------------------------
def check_weights(ckpt: Checkpoint, template: dict[str, torch.Tensor]) -> None:
    """Refuse a checkpoint whose tensors are not exactly the names and shapes of
    ``template`` (e.g. a freshly built model's weights).

    Raises
    ------
    CheckpointError : a tensor missing, an extra tensor, or a shape mismatch (names the
        tensor and both shapes).
    """
    for key in sorted(template):
        want = _shape(tuple(template[key].shape))
        if key not in ckpt.weights:
            raise CheckpointError(f"{ckpt.path}: tensor {key} is missing (the model needs "
                                  f"shape {want})")
        have = _shape(tuple(ckpt.weights[key].shape))
        if have != want:
            raise CheckpointError(f"{ckpt.path}: tensor {key} has shape {have}, expected {want}")
    extra = sorted(set(ckpt.weights) - set(template))
    if extra:
        key = extra[0]
        raise CheckpointError(f"{ckpt.path}: unexpected tensor {key} (shape "
                              f"{_shape(tuple(ckpt.weights[key].shape))}): this model has no "
                              f"such weight ({len(extra)} extra)")


def model_identity(ckpt: Checkpoint | None) -> dict[str, Any]:
    """What a recording stores about the model it ran: ``{"name": file name or "random",
    "sha256": hex or "", "meta": the metadata without "config" or {}}`` (JSON-able)."""
    if ckpt is None:
        return {"name": "random", "sha256": "", "meta": {}}
    return {"name": os.path.basename(ckpt.path), "sha256": ckpt.sha256,
            "meta": {k: v for k, v in ckpt.meta.items() if k != "config"}}


# ---- helpers -----------------------------------------------------------------------------
def _check_finite(key: str, arr: np.ndarray, path: str) -> None:
    bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
    if bad:
        raise CheckpointError(f"{path}: tensor {key} has {bad} non-finite values")


def _is_int(v: Any) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _shape(shape: tuple[int, ...]) -> str:
    return str(tuple(int(d) for d in shape))


def _one_line(exc: BaseException) -> str:
    """The exception as one line (engine/ cannot import nlviz.errors.one_line)."""
    return " ".join(str(exc).split())[:300] or type(exc).__name__


__all__ = [
    "FORMAT", "FORMAT_VERSION", "Checkpoint", "CheckpointError", "check_weights",
    "load_checkpoint", "model_identity", "save_checkpoint",
]
