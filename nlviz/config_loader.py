"""Resolve a run configuration from a preset, ``--set`` overrides and CLI flags.

Qt-free. Every problem becomes a ``UserError`` whose one line names the file, key or value.
"""
from __future__ import annotations

import copy
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from engine.config import Config, ConfigError, ModelConfig, set_dotted
from engine.streams import make_stream, stream_config_for
from nlviz.errors import UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# Package data (nlviz/presets/*.toml), found the same way in a checkout and in an installed wheel.
PRESET_DIR = Path(str(resources.files("nlviz") / "presets"))


def preset_names() -> list[str]:
    """Names of the shipped presets (``nlviz/presets/*.toml``)."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def preset_path(preset: str) -> Path:
    """A preset name or a path to a .toml file."""
    path = Path(preset)
    if path.suffix == ".toml":
        if path.exists() and not path.is_file():   # a directory, FIFO or device: never read
            raise UserError(f"{preset}: preset is not a regular file")
        if not path.is_file():
            raise UserError(f"{preset}: preset file not found")
        return path
    path = PRESET_DIR / f"{preset}.toml"
    if not path.is_file():
        raise UserError(f"preset {preset!r} not found (available: {', '.join(preset_names())})")
    return path


def load_preset_dict(preset: str) -> dict[str, Any]:
    """Parse a preset into a plain dict (not yet validated)."""
    path = preset_path(preset)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: invalid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read: {exc}") from None


def parse_value(text: str) -> Any:
    """A ``--set`` value: TOML syntax (numbers, true/false, [lists], "strings"), else a bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_override(data: dict[str, Any], item: str) -> None:
    """Apply one ``key=value`` override to a config dict in place."""
    if "=" not in item:
        raise UserError(f"--set {item!r}: expected KEY=VALUE, e.g. model.titans.lr=0.1")
    key, text = item.split("=", 1)
    key = key.strip()
    if not key:
        raise UserError(f"--set {item!r}: empty key")
    try:
        set_dotted(data, key, parse_value(text.strip()))
    except ConfigError as exc:
        raise UserError(f"--set {key}: {exc}") from None


def load_config(preset: str | None = "default", overrides: list[str] | None = None,
                stream: str | None = None, device: str | None = None,
                seed: int | None = None, model: str | None = None) -> Config:
    """Preset (None means ``default``), then ``--set`` overrides, then the dedicated flags;
    validated, and the stream opened once (a stream file is read and checked here, so a bad
    file is refused before anything runs).

    Raises ``UserError`` whose one line names the key and value, prefixed with the preset
    file when the value came from it (a value from a flag or ``--set`` is named as given).

    ``model``: ``None`` or ``"auto"`` starts from the preset's shipped trained model
    (``nlviz/models/<preset>.npz``) when there is one, else from random weights;
    ``"random"`` from random weights; anything else is a checkpoint path. A checkpoint's
    model section replaces the preset's (``--set model.*`` still applies on top). When
    overrides change the shapes of the shipped model's weights (``model.d``, levels, ...)
    the implicit choice falls back to random weights with the preset's own model section;
    an explicit checkpoint that no longer fits is refused when the engine loads it.
    """
    preset = preset or "default"
    section = trained_model_section(model, preset)     # the checkpoint is read once
    config = _load(preset, overrides, stream, device, seed, section)
    if model in (None, "auto") and section is not None and \
            not _same_shapes(config.model, Config.from_dict({"model": section}).model):
        config = _load(preset, overrides, stream, device, seed, None)
    return config


def _load(preset: str, overrides: list[str] | None, stream: str | None, device: str | None,
          seed: int | None, model_section: dict[str, Any] | None) -> Config:
    data = load_preset_dict(preset)
    if model_section is not None:   # a trained model brings its own architecture
        data["model"] = copy.deepcopy(model_section)   # overrides edit data in place
    data.setdefault("model", {})
    data.setdefault("stream", {})
    data.setdefault("run", {})
    given: list[str] = []            # keys whose value came from the command line
    try:
        if stream is not None:
            sc = stream_config_for(stream)
            data["stream"] = {"name": sc.name, **sc.param_dict()}
            given.append("stream")
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    for item in overrides or []:
        apply_override(data, item)
        given.append(item.split("=", 1)[0].strip())
    if device is not None:
        data["run"]["device"] = device
        given.append("run.device")
    if seed is not None:
        data["run"]["seed"] = seed
        given.append("run.seed")
    try:
        config = Config.from_dict(data)
        make_stream(config.stream, config.model.d_in, config.run.seed)
    except ConfigError as exc:
        raise UserError(_origin(str(exc), given, preset)) from None
    return config


def _origin(message: str, given: list[str], preset: str) -> str:
    """``message`` (``key: reason``) prefixed with the preset file unless the key, or a
    section above it, was given on the command line."""
    key = message.split(":", 1)[0].split("[", 1)[0]
    if any(key == g or key.startswith(g + ".") or g.startswith(key + ".") for g in given):
        return message
    return f"{preset_path(preset).name}: {message}"


# Package data (nlviz/models/<preset>.npz): the trained model each shipped preset starts from.
MODEL_DIR = Path(str(resources.files("nlviz") / "models"))


def shipped_model(preset: str) -> Path | None:
    """The trained checkpoint shipped for a preset name, if any."""
    path = MODEL_DIR / f"{preset}.npz"
    return path if Path(preset).suffix != ".toml" and path.is_file() else None


def trained_model_section(model: str | None, preset: str) -> dict[str, Any] | None:
    """The ``[model]`` section a ``--model`` choice stands for (with ``weights`` set to the
    checkpoint's absolute path), or None to keep the preset's (random start)."""
    if model == "random":
        return None
    path = shipped_model(preset) if model in (None, "auto") else Path(model)
    if path is None:
        return None
    from engine.checkpoint import CheckpointError, load_checkpoint
    try:
        ckpt = load_checkpoint(path)
    except CheckpointError as exc:
        raise UserError(f"--model: {exc}") from None
    section = dict(ckpt.meta["config"])
    section["weights"] = str(path.resolve())
    section["weights_sha256"] = ckpt.sha256
    return section


def _same_shapes(a: ModelConfig, b: ModelConfig) -> bool:
    """Whether two model configurations have slow weights of the same names and shapes."""

    def shapes(m: ModelConfig) -> tuple[Any, ...]:
        t, c = m.titans, m.cms
        return (m.d_in, m.d, m.context, t.variant, t.kind, t.hidden, t.surprise_gates,
                len(c.periods), c.hidden)
    return shapes(a) == shapes(b)
