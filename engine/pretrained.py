"""Start a model from a trained checkpoint (``model.weights``) or from random weights.

The checkpoint's slow weights must fit the configured architecture exactly; anything
else is refused as a ``ConfigError`` naming ``model.weights``, the file and the tensor.
"""
from __future__ import annotations

import torch
from torch import Tensor

from engine.checkpoint import Checkpoint, CheckpointError, check_weights, load_checkpoint
from engine.config import ConfigError, ModelConfig
from engine.model import HOPE

OPTIMIZER_PREFIX = "optim/"   # AdamW moments kept for --resume, not part of the model


def model_weights(ckpt: Checkpoint) -> dict[str, Tensor]:
    """The model's slow weights in a checkpoint (without the optimizer's tensors)."""
    return {k: v for k, v in ckpt.weights.items() if not k.startswith(OPTIMIZER_PREFIX)}


def load_model_weights(cfg: ModelConfig) -> tuple[Checkpoint | None, dict[str, Tensor] | None]:
    """(checkpoint, its slow weights) for ``cfg.weights``; (None, None) for a random start.

    Raises
    ------
    ConfigError : the file cannot be read, is not a checkpoint, or does not fit ``cfg``.
    """
    if not cfg.weights:
        return None, None
    try:
        ckpt = load_checkpoint(cfg.weights)
        if cfg.weights_sha256 and ckpt.sha256 != cfg.weights_sha256:
            raise CheckpointError(f"{cfg.weights}: sha256 {ckpt.sha256[:12]}... is not the "
                                  f"{cfg.weights_sha256[:12]}... this run started from (the "
                                  "file changed)")
        weights = model_weights(ckpt)
        template = HOPE(cfg, 0, torch.device("cpu")).slow_weights()
        check_weights(Checkpoint(weights, ckpt.meta, ckpt.sha256, ckpt.path), template)
    except CheckpointError as exc:
        raise ConfigError(f"model.weights: {exc}") from None
    return ckpt, weights
