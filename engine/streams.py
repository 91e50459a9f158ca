"""Input streams: deterministic by seed, random access by step, endless.

Every stream maps a step index t to a vector x_t of width ``dim`` plus a regime label
and (for text) the byte it encodes. Randomness is drawn per block of
``BLOCK`` steps from ``default_rng([seed, stream_id, block])``, so any window
``sample(t0, n)`` is the same whether it is read whole or in pieces, and a run
that switches streams can come back to the same data.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from engine.config import MAX_PERIOD, ConfigError, StreamConfig
from engine.stream_files import check_room, load_npy_rows, open_regular_file, read_exactly

BLOCK = 256
# Package data (engine/data/), found the same way in a checkout and in an installed wheel.
DEFAULT_TEXT = Path(str(resources.files("engine") / "data" / "alice_ch1.txt"))


@dataclass(frozen=True)
class Sample:
    """A window of a stream: x (n, dim) float32, regime (n,) int32, token (n,) int32;
    clean (n, dim) float32 the noiseless value of x where the stream knows it, else None."""

    x: np.ndarray
    regime: np.ndarray
    token: np.ndarray
    clean: np.ndarray | None = None


class Stream:
    """Base class. Subclasses set ``name``, ``description``, ``Params`` and ``_block``."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    stream_id: ClassVar[int] = 0

    @dataclass(frozen=True)
    class Params:
        pass

    def __init__(self, dim: int, seed: int, params: Params) -> None:
        self.dim = dim
        self.seed = seed
        self.params = params
        self._cache: dict[int, Sample] = {}

    def regime_names(self) -> tuple[str, ...]:
        return ("-",)

    def sample(self, t0: int, n: int) -> Sample:
        """Steps ``t0 .. t0+n-1``."""
        xs, rs, ts, cs = [], [], [], []
        t, end = t0, t0 + n
        while t < end:
            b = t // BLOCK
            blk = self._cached_block(b)
            lo = t - b * BLOCK
            hi = min(BLOCK, end - b * BLOCK)
            xs.append(blk.x[lo:hi])
            rs.append(blk.regime[lo:hi])
            ts.append(blk.token[lo:hi])
            if blk.clean is not None:
                cs.append(blk.clean[lo:hi])
            t = b * BLOCK + hi
        clean = np.concatenate(cs) if cs and len(cs) == len(xs) else None
        return Sample(np.concatenate(xs), np.concatenate(rs), np.concatenate(ts), clean)

    def clean(self, t0: int, n: int) -> np.ndarray | None:
        """The noiseless values (n, dim) float32 of steps ``t0 .. t0+n-1`` where the stream
        knows them (the best predictor of x_t given its regime and phase), else None."""
        return self.sample(t0, n).clean

    def _cached_block(self, b: int) -> Sample:
        blk = self._cache.get(b)
        if blk is None:
            if len(self._cache) > 64:
                self._cache.clear()
            blk = self._block(b)
            self._cache[b] = blk
        return blk

    def _rng(self, *extra: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.stream_id, *extra])

    def _block(self, b: int) -> Sample:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> str:
        """One line for the UI: the description with the parameter values."""
        vals = ", ".join(f"{f.name}={getattr(self.params, f.name)}" for f in fields(self.params))
        return f"{self.description}" + (f" ({vals})" if vals else "")


def _unlabelled(x: np.ndarray) -> Sample:
    """A window with no regime (0) and no token (-1)."""
    n = len(x)
    return Sample(x.astype(np.float32), np.zeros(n, np.int32), np.full(n, -1, np.int32))


def _unit(v: np.ndarray, axis: int = -1) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=axis, keepdims=True), 1e-12)


class AssociativeRecall(Stream):
    name = "associative_recall"
    description = "Key/value pairs are written, then each key is queried later (value zeroed)"
    stream_id = 1

    @dataclass(frozen=True)
    class Params(Stream.Params):
        n_pairs: int = 8
        repeats: int = 1

    params: Params

    def __init__(self, dim: int, seed: int, params: Params) -> None:
        super().__init__(dim, seed, params)
        values = params.n_pairs * (params.repeats + 1) * dim
        if values > MAX_EPISODE_VALUES:
            raise ConfigError(f"stream.n_pairs: {params.n_pairs} pairs x {params.repeats + 1} "
                              f"passes x width {dim} = {values:,} values per episode, more "
                              f"than {MAX_EPISODE_VALUES:,}")

    def regime_names(self) -> tuple[str, ...]:
        return ("write", "query")

    def _episode(self, e: int) -> Sample:
        n, half = self.params.n_pairs, self.dim // 2
        rng = self._rng(1, e)
        keys = _unit(rng.standard_normal((n, half)))
        vals = rng.standard_normal((n, self.dim - half)) / math.sqrt(self.dim - half)
        order = rng.permutation(n)
        writes = np.concatenate([keys, vals], axis=1)
        queries = np.concatenate([keys[order], np.zeros_like(vals)], axis=1)
        x = np.concatenate([np.tile(writes, (self.params.repeats, 1)), queries])
        regime = np.r_[np.zeros(n * self.params.repeats), np.ones(n)].astype(np.int32)
        return Sample(x.astype(np.float32), regime, np.full(len(x), -1, np.int32))

    def _block(self, b: int) -> Sample:
        ep_len = self.params.n_pairs * (self.params.repeats + 1)
        t0, t1 = b * BLOCK, (b + 1) * BLOCK
        eps = [self._episode(e) for e in range(t0 // ep_len, (t1 - 1) // ep_len + 1)]
        start = (t0 // ep_len) * ep_len
        x = np.concatenate([s.x for s in eps])[t0 - start: t1 - start]
        r = np.concatenate([s.regime for s in eps])[t0 - start: t1 - start]
        return Sample(x, r, np.full(BLOCK, -1, np.int32))


class RegimeShift(Stream):
    name = "regime_shift"
    description = "A periodic signal whose pattern switches every N steps, then returns"
    stream_id = 2

    @dataclass(frozen=True)
    class Params(Stream.Params):
        switch_every: int = 500
        n_regimes: int = 2
        noise: float = 0.05

    params: Params

    def regime_names(self) -> tuple[str, ...]:
        return tuple(chr(ord("A") + i) for i in range(self.params.n_regimes))

    def _regime_basis(self, r: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rng = self._rng(0, r)
        basis = _unit(rng.standard_normal((4, self.dim)))          # (4, dim)
        omega = 2 * np.pi / rng.uniform(6, 40, size=4)              # (4,)
        phase = rng.uniform(0, 2 * np.pi, size=4)                   # (4,)
        return basis, omega, phase

    def _block(self, b: int) -> Sample:
        t = np.arange(b * BLOCK, (b + 1) * BLOCK)
        regime = ((t // self.params.switch_every) % self.params.n_regimes).astype(np.int32)
        x = np.zeros((BLOCK, self.dim))
        for r in np.unique(regime):
            basis, omega, phase = self._regime_basis(int(r))
            m = regime == r
            x[m] = np.sin(np.outer(t[m], omega) + phase) @ basis      # (n_r, dim)
        clean = x.astype(np.float32)
        x += self.params.noise * self._rng(1, b).standard_normal(x.shape)
        return Sample(x.astype(np.float32), regime, np.full(BLOCK, -1, np.int32), clean)


class MultiTimescale(Stream):
    name = "multi_timescale"
    description = "Sum of sinusoids whose periods match different CMS levels"
    stream_id = 3

    @dataclass(frozen=True)
    class Params(Stream.Params):
        periods: tuple[int, ...] = (4, 16, 64, 256)
        noise: float = 0.05

    params: Params

    def _block(self, b: int) -> Sample:
        t = np.arange(b * BLOCK, (b + 1) * BLOCK)
        periods = np.asarray(self.params.periods, dtype=np.float64)
        rng = self._rng(0)
        dirs = _unit(rng.standard_normal((len(periods), self.dim)))     # (k, dim)
        phase = rng.uniform(0, 2 * np.pi, size=len(periods))
        x = np.sin(2 * np.pi * t[:, None] / periods + phase) @ dirs       # (BLOCK, dim)
        clean = x.astype(np.float32)
        x += self.params.noise * self._rng(1, b).standard_normal(x.shape)
        s = _unlabelled(x)
        return Sample(s.x, s.regime, s.token, clean)


class Text(Stream):
    name = "text"
    description = "Bytes of a text, each byte a fixed random vector; loops forever"
    stream_id = 4

    @dataclass(frozen=True)
    class Params(Stream.Params):
        path: str = ""

    params: Params

    def __init__(self, dim: int, seed: int, params: Params) -> None:
        super().__init__(dim, seed, params)
        path = Path(params.path) if params.path else DEFAULT_TEXT
        with open_regular_file(path, "stream.path") as f:
            size = os.fstat(f.fileno()).st_size
            if not size:
                raise ConfigError(f"stream.path: {path} is empty")
            check_room(path, size, f"{size:,} bytes")
            data = read_exactly(f, size, path)
        self.data = np.frombuffer(data, dtype=np.uint8)
        self.table = _unit(self._rng(0).standard_normal((256, dim))).astype(np.float32)

    def regime_names(self) -> tuple[str, ...]:
        return ("space", "letter", "digit", "punct", "other")

    def _block(self, b: int) -> Sample:
        idx = np.arange(b * BLOCK, (b + 1) * BLOCK) % len(self.data)
        tok = self.data[idx]
        regime = np.full(BLOCK, 4, np.int32)
        regime[np.isin(tok, list(b" \n\t\r"))] = 0
        letters = ((tok >= 65) & (tok <= 90)) | ((tok >= 97) & (tok <= 122))
        regime[letters] = 1
        regime[(tok >= 48) & (tok <= 57)] = 2
        regime[np.isin(tok, list(b".,;:!?'\"-()"))] = 3
        return Sample(self.table[tok], regime, tok.astype(np.int32))

    def describe(self) -> str:
        name = Path(self.params.path).name if self.params.path else DEFAULT_TEXT.name
        return f"{self.description} ({name}, {len(self.data)} bytes)"


class Noise(Stream):
    name = "noise"
    description = "I.i.d. Gaussian noise: nothing to learn (control)"
    stream_id = 5

    @dataclass(frozen=True)
    class Params(Stream.Params):
        std: float = 1.0

    params: Params

    def _block(self, b: int) -> Sample:
        x = self.params.std * self._rng(b).standard_normal((BLOCK, self.dim)) / math.sqrt(self.dim)
        return _unlabelled(x)


class FileStream(Stream):
    name = "file"
    description = "Rows of a user .npy file (T, d), looped"
    stream_id = 6

    @dataclass(frozen=True)
    class Params(Stream.Params):
        path: str = ""

    params: Params

    def __init__(self, dim: int, seed: int, params: Params) -> None:
        super().__init__(dim, seed, params)
        self.data = load_npy_rows(Path(params.path), dim)

    def _block(self, b: int) -> Sample:
        idx = np.arange(b * BLOCK, (b + 1) * BLOCK) % len(self.data)
        return _unlabelled(self.data[idx])

    def describe(self) -> str:
        return f"{self.description}: {Path(self.params.path).name}, {len(self.data)} rows"


STREAMS: dict[str, type[Stream]] = {
    s.name: s for s in (AssociativeRecall, RegimeShift, MultiTimescale, Text, Noise, FileStream)
}


def stream_config_for(spec: str) -> StreamConfig:
    """``--stream`` value: a stream name, or a path (.npy -> file stream, else text)."""
    if spec in STREAMS:
        return StreamConfig(name=spec)
    if spec.endswith(".npy"):
        return StreamConfig(name="file", params=(("path", spec),))
    if Path(spec).suffix or "/" in spec or os.path.lexists(spec):
        return StreamConfig(name="text", params=(("path", spec),))
    raise ConfigError(f"stream: {spec!r} is not one of {', '.join(STREAMS)} and not a file path")


# Upper bounds of stream parameters (lower: ints >= 1, floats >= 0, all finite).
INT_PARAM_MAX = {"n_regimes": 26,      # regimes are named A..Z
                 "n_pairs": 4096, "repeats": 100}  # an episode is regenerated per block
FLOAT_PARAM_MAX = 1e6                  # noise / std: beyond this float32 inputs overflow
MAX_STREAM_PERIODS = 64
MAX_EPISODE_VALUES = 1 << 24           # associative recall: episode length x width


def _params_for(cls: type[Stream], cfg: StreamConfig, where: str) -> Any:
    known = {f.name: f for f in fields(cls.Params)}
    defaults = cls.Params()
    kwargs = {}
    for key, value in cfg.params:
        if key not in known:
            raise ConfigError(f"{where}.{key}: unknown parameter for stream {cls.name!r} "
                              f"(known: {', '.join(known) or 'none'})")
        default = getattr(defaults, key)
        if isinstance(default, tuple):
            value = tuple(value) if isinstance(value, (list, tuple)) else (value,)
            if not value or not all(isinstance(v, int) and not isinstance(v, bool) and
                                    0 < v <= MAX_PERIOD for v in value):
                raise ConfigError(f"{where}.{key}: {list(value)!r} must be positive integers "
                                  f"(at most {MAX_PERIOD})")
            if len(value) > MAX_STREAM_PERIODS:
                raise ConfigError(f"{where}.{key}: {len(value)} values, at most "
                                  f"{MAX_STREAM_PERIODS}")
        elif isinstance(default, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                    not 0 <= value <= FLOAT_PARAM_MAX:
                raise ConfigError(f"{where}.{key}: {value!r} must be a number in "
                                  f"[0, {FLOAT_PARAM_MAX:g}]")
            value = float(value)
        elif isinstance(default, int):
            hi = INT_PARAM_MAX.get(key, MAX_PERIOD)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= hi:
                raise ConfigError(f"{where}.{key}: {value!r} must be an integer in [1, {hi}]")
        elif isinstance(default, str) and not isinstance(value, str):
            raise ConfigError(f"{where}.{key}: {value!r} must be a string")
        kwargs[key] = value
    return cls.Params(**kwargs)


def validate_stream_config(cfg: StreamConfig, where: str = "stream") -> None:
    """Raise ``ConfigError`` naming the key if ``cfg`` is not a valid stream."""
    if cfg.name not in STREAMS:
        raise ConfigError(f"{where}.name: {cfg.name!r} is not one of {', '.join(STREAMS)}")
    params = _params_for(STREAMS[cfg.name], cfg, where)
    if cfg.name == "file" and not params.path:
        raise ConfigError(f"{where}.path: the file stream needs a path")


def make_stream(cfg: StreamConfig, dim: int, seed: int) -> Stream:
    """Build the stream described by ``cfg`` for vectors of width ``dim``."""
    validate_stream_config(cfg)
    cls = STREAMS[cfg.name]
    return cls(dim, seed, _params_for(cls, cfg, "stream"))
