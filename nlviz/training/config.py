"""Training configs: a TOML with a ``[model]`` section (the architecture and the live
hyperparameters, as in a run preset) and a ``[train]`` section (``engine.outer.TrainConfig``),
``[train.tasks]`` the task mixture. Shipped ones live next to this file.
"""
from __future__ import annotations

import sys
from dataclasses import fields
from importlib import resources
from pathlib import Path
from typing import Any

from engine.config import Config, ConfigError, ModelConfig
from engine.outer import TrainConfig
from nlviz.config_loader import apply_override
from nlviz.errors import UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CONFIG_DIR = Path(str(resources.files("nlviz") / "training"))


def config_names() -> list[str]:
    """Names of the shipped training configs."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.toml"))


def config_path(name: str) -> Path:
    """A shipped config name or a path to a .toml file."""
    path = Path(name)
    if path.suffix == ".toml":
        if not path.is_file():
            raise UserError(f"{name}: training config file not found")
        return path
    path = CONFIG_DIR / f"{name}.toml"
    if not path.is_file():
        raise UserError(f"training config {name!r} not found (available: "
                        f"{', '.join(config_names())})")
    return path


def load_train_config(name: str, overrides: list[str] | None = None
                      ) -> tuple[ModelConfig, TrainConfig]:
    """The model and training configs of ``name`` with ``--set`` overrides applied
    (``model.titans.lr=0.1``, ``train.steps=50``, ``train.tasks.text=0``)."""
    path = config_path(name)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: invalid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read: {exc}") from None
    for item in overrides or []:
        apply_override(data, item)
    unknown = sorted(set(data) - {"model", "train"})
    if unknown:
        raise UserError(f"{path.name}: {unknown[0]}: unknown section (known: model, train)")
    try:
        model = Config.from_dict({"model": data.get("model", {})}).model
    except ConfigError as exc:
        raise UserError(f"{path.name}: {exc}") from None
    return model, train_config_from_dict(data.get("train", {}), path.name)


def train_config_from_dict(data: dict[str, Any], where: str) -> TrainConfig:
    """A validated ``TrainConfig``; a bad key or value is one line naming it."""
    known = {f.name: f for f in fields(TrainConfig)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            raise UserError(f"{where}: train.{key}: unknown key (known: "
                            f"{', '.join(sorted(known))})")
        default = getattr(TrainConfig(), key)
        if key == "tasks":
            if not isinstance(value, dict):
                raise UserError(f"{where}: train.tasks: expected a table of weights")
            value = dict(value)
        elif isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif type(value) is not type(default):
            raise UserError(f"{where}: train.{key}: {value!r} must be "
                            f"{'an integer' if isinstance(default, int) else 'a number'}")
        kwargs[key] = value
    try:
        return TrainConfig(**kwargs).validate()
    except ValueError as exc:
        raise UserError(f"{where}: {exc}") from None


def train_config_dict(cfg: TrainConfig) -> dict[str, Any]:
    """Plain dict of a TrainConfig (JSON/TOML friendly)."""
    return {f.name: getattr(cfg, f.name) for f in fields(cfg)}
