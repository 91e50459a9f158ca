"""The task mixture the outer loop meta-trains on: episodes of the engine's own streams,
each drawn with a fresh stream seed so that nothing about one episode (its regimes' bases,
its byte embedding, its key/value pairs) can be memorised in the slow weights: the model
must learn it in context, with its fast levels.

An episode is a sequence of inputs x, the target the block's output should predict at
each step and a mask of the steps that count:

- ``regime_shift``: a periodic signal whose pattern switches every 60-400 steps between
  2-3 regimes and comes back; target x_{t+1}.
- ``multi_timescale``: a sum of sinusoids with periods 4-256; target x_{t+1}.
- ``associative_recall``: multi-query associative recall as next-step prediction: 4-12
  pairs written as a key token then its value token, then every key asked again, each
  followed by its value; only the prediction at a queried key counts (its value, which
  was seen only in context).
- ``text``: the bytes of the shipped text, each a random unit vector of the episode;
  target x_{t+1}.

Everything here is numpy; a ``numpy.random.Generator`` seeded from (seed, round, slot)
picks each episode, so a run is repeatable and a slot's episode does not depend on how
slots are spread over processes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.config import StreamConfig
from engine.streams import DEFAULT_TEXT, make_stream

TASKS = ("regime_shift", "multi_timescale", "associative_recall", "text")
DEFAULT_MIXTURE: dict[str, float] = {"regime_shift": 0.35, "multi_timescale": 0.2,
                                     "associative_recall": 0.3, "text": 0.15}
HELDOUT_SEED = 1 << 40   # stream seeds at and above this are never drawn for training


@dataclass(frozen=True)
class Episode:
    """x (L, d_in) float32 inputs, target (L, d_in) float32, mask (L,) float32 (1 = the
    step's prediction counts), task index into ``TASKS``."""

    x: np.ndarray
    target: np.ndarray
    mask: np.ndarray
    task: int


def check_mixture(mixture: dict[str, float]) -> dict[str, float]:
    """The mixture with weights normalised to sum 1; ValueError names a bad entry."""
    for name, w in mixture.items():
        if name not in TASKS:
            raise ValueError(f"tasks.{name}: unknown task (known: {', '.join(TASKS)})")
        if not (isinstance(w, (int, float)) and math.isfinite(w) and w >= 0):
            raise ValueError(f"tasks.{name}: {w!r} must be a weight >= 0")
    total = sum(mixture.values())
    if total <= 0:
        raise ValueError("tasks: every weight is 0")
    return {name: float(w) / total for name, w in mixture.items()}


def draw_task(mixture: dict[str, float], rng: np.random.Generator) -> str:
    """One task name, with probability its (normalised) weight."""
    names = sorted(mixture)
    p = np.array([mixture[n] for n in names])
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def sample_episode(task: str, d_in: int, length: int, stream_seed: int,
                   rng: np.random.Generator) -> Episode:
    """An episode of ``length`` steps of ``task`` (streams seeded with ``stream_seed``)."""
    if task == "associative_recall":
        return _recall_episode(d_in, length, rng)
    params: tuple[tuple[str, Any], ...]
    if task == "regime_shift":
        params = (("n_regimes", int(rng.integers(2, 4))), ("noise", 0.05),
                  ("switch_every", int(rng.integers(60, 401))))
    elif task == "multi_timescale":
        params = (("noise", 0.05),)
    elif task == "text":
        params = (("path", str(DEFAULT_TEXT)),)
    else:
        raise ValueError(f"tasks.{task}: unknown task")
    stream = make_stream(StreamConfig(name=task, params=params), d_in, stream_seed)
    start = int(rng.integers(0, 4096))
    x = stream.sample(start, length + 1).x                           # (L + 1, d_in)
    mask = np.ones(length, np.float32)
    return Episode(x[:-1], x[1:], mask, TASKS.index(task))


def _recall_episode(d_in: int, length: int, rng: np.random.Generator) -> Episode:
    """Multi-query associative recall as next-step prediction: rounds of n pairs written as
    a key token ``[key, 0]`` followed by its value token ``[0, value]``, then every key
    asked again in a random order, each followed by its value; only the prediction made
    at a queried key counts (it must be that key's value, seen only in context)."""
    x, target, mask = recall_sequence(d_in, length, rng)
    return Episode(x, target, mask, TASKS.index("associative_recall"))


def recall_sequence(d_in: int, length: int, rng: np.random.Generator,
                    n_pairs: tuple[int, int] = (4, 13)) -> tuple[np.ndarray, np.ndarray,
                                                                np.ndarray]:
    """(x, target, mask) of ``recall_episode``; ``n_pairs`` is the [low, high) range of
    pairs per round."""
    half = d_in // 2
    xs, masks = [], []
    total = 0
    while total < length + 1:
        n = int(rng.integers(*n_pairs))
        keys = rng.standard_normal((n, half))
        keys /= np.linalg.norm(keys, axis=1, keepdims=True)
        vals = rng.standard_normal((n, d_in - half))
        vals /= np.linalg.norm(vals, axis=1, keepdims=True)
        key_tok = np.concatenate([keys, np.zeros((n, d_in - half))], 1)
        val_tok = np.concatenate([np.zeros((n, half)), vals], 1)
        order = rng.permutation(n)
        writes = np.stack([key_tok, val_tok], 1).reshape(2 * n, d_in)
        queries = np.stack([key_tok[order], val_tok[order]], 1).reshape(2 * n, d_in)
        xs += [writes, queries]
        masks += [np.zeros(2 * n), np.tile([1.0, 0.0], n)]   # count x_t = key -> x_{t+1}
        total += 4 * n
    seq = np.concatenate(xs)[:length + 1].astype(np.float32)
    mask = np.concatenate(masks)[:length].astype(np.float32)
    return seq[:-1], seq[1:], mask


def episode_rng(seed: int, round_: int, slot: int) -> np.random.Generator:
    """The generator of one slot's episode in one round (independent of process count)."""
    return np.random.default_rng([seed, round_, slot, 0x6E6C])


def draw_episode(mixture: dict[str, float], d_in: int, length: int, seed: int, round_: int,
                 slot: int, heldout: bool = False) -> Episode:
    """The episode of ``slot`` in ``round_``: a task from the mixture, then its data.
    Held-out episodes use stream seeds no training episode can draw."""
    rng = episode_rng(seed + (HELDOUT_SEED if heldout else 0), round_, slot)
    task = draw_task(mixture, rng)
    base = HELDOUT_SEED if heldout else 0
    stream_seed = base + int(rng.integers(0, HELDOUT_SEED - 1))
    return sample_episode(task, d_in, length, stream_seed, rng)


def baseline_losses(ep: Episode) -> tuple[float, float]:
    """(copy, zero): the masked loss of predicting the current input, and of predicting
    zeros -- the bars a trained block must clear."""
    w = ep.mask / max(float(ep.mask.sum()), 1.0)
    copy = 0.5 * ((ep.x - ep.target) ** 2).sum(-1)
    zero = 0.5 * (ep.target ** 2).sum(-1)
    return float((copy * w).sum()), float((zero * w).sum())
