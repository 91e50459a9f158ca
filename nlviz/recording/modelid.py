"""The model a run used, as the root attribute ``model_json`` stores it (schema 1.3).

A model identity is ``{"name": str, "sha256": str, "meta": dict}``: the checkpoint's file
name, the sha256 of its bytes and its metadata without the config
(``engine.checkpoint.model_identity``), or ``RANDOM`` for a random start. Files older
than 1.3 read as ``UNKNOWN``.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

RANDOM: dict[str, Any] = {"name": "random", "sha256": "", "meta": {}}
UNKNOWN: dict[str, Any] = {"name": "unknown", "sha256": "", "meta": {}}
_FIELDS = (("name", str), ("sha256", str), ("meta", dict))


def problem(model: Any) -> str | None:
    """What is wrong with ``model`` as an identity, or None."""
    if not isinstance(model, dict):
        return f"{type(model).__name__} instead of an object"
    for key, kind in _FIELDS:
        if not isinstance(model.get(key), kind):
            return f"field {key} is {model.get(key)!r}, expected a {kind.__name__}"
    return None


def to_json(model: dict[str, Any] | None) -> str:
    """``model`` (None: ``RANDOM``) as the text of ``model_json``.

    Raises
    ------
    ValueError : not an identity, or not JSON-able (names the field).
    """
    model = RANDOM if model is None else model
    bad = problem(model)
    if bad:
        raise ValueError(f"model identity: {bad}")
    try:
        return json.dumps(model, sort_keys=True, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"model identity cannot be stored as JSON: {exc}") from None


def from_json(text: str, fail: Callable[[str], Exception]) -> dict[str, Any]:
    """The identity stored in ``model_json``; ``fail`` builds the one-line refusal."""
    try:
        model = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise fail(f"root attribute model_json is not JSON ({type(exc).__name__})") from None
    bad = problem(model)
    if bad:
        raise fail(f"root attribute model_json: {bad}")
    return dict(model)


def describe(model: dict[str, Any]) -> str:
    """One line for ``nlviz info``: ``name sha256 <12 hex> (<n> outer steps)``, ``random``,
    or ``unknown (...)`` for files older than 1.3."""
    name = str(model.get("name", ""))
    if name == "unknown" and not model.get("sha256"):
        return "unknown (recorded before schema 1.3)"
    if not model.get("sha256"):
        return name
    text = f"{name} sha256 {str(model['sha256'])[:12]}"
    steps = (model.get("meta") or {}).get("outer_steps")
    if isinstance(steps, int) and not isinstance(steps, bool):
        text += f" ({steps} outer steps)"
    return text
