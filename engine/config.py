"""Frozen configuration for the HOPE engine, its input stream and the run loop.

Every knob lives here, grouped by the part it configures. ``Config.from_dict``
builds the tree from plain dicts (TOML presets, ``--set`` overrides) and rejects
unknown keys and out-of-range values with a ``ConfigError`` that names the key.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any


class ConfigError(ValueError):
    """A configuration value or key is invalid; the message names the key."""


UPDATE_RULES = ("delta", "literal93")
TITANS_VARIANTS = ("self_modifying", "lmm")
MEMORY_KINDS = ("mlp", "linear")
GATE_MODES = ("adaptive", "fixed")
CMS_OBJECTIVES = ("next_step", "reconstruction")
DEVICES = ("auto", "cpu", "cuda", "mps")
ENGINES = ("auto", "eager", "compiled")
MAX_BLOCK = 1 << 12
DTYPES = ("float32", "float64")
DECAY_TARGETS = ("zero", "init")
MEMORY_TARGETS = ("self", "value")
MAX_CONTEXT = 64

# Hard caps: no value beyond these is meaningful, and each keeps every derived size, index
# and product inside int64 (HDF5, numpy and torch all store these as 64-bit integers).
# Whether a config fits the machine is checked against its memory (engine.budget) when
# the engine is built; these caps only refuse absurd values early.
INT64_MAX = 2**63 - 1
MAX_SEED = INT64_MAX        # torch.Generator.manual_seed and HDF5 attributes take int64
MAX_WIDTH = 1 << 24         # d_in, d, hidden: one 2^24-wide row of a d x h matrix is 64 MiB
MAX_LEVELS = 64             # CMS levels (each is a chain link, a panel and 9 datasets)
MAX_EVAL_WINDOW = 1 << 16   # tokens per regime in a held-out evaluation window
MAX_PERIOD = 2**31 - 1      # update periods and *_every steps (68 years of steps at 1/s)
MAX_CHUNK = 1 << 20         # Titans chunk: the open chunk's reads are held in memory
MAX_PROBES = 1 << 20        # probe reservoir pairs
MAX_SNAPSHOT_SIDE = 4096    # snapshot rows / columns (64 MiB a matrix; beyond any screen)
MAX_THREADS = 1024


@dataclass(frozen=True)
class TitansConfig:
    """Self-modifying Titans (NL eq. 83-91): memories for memory, k, v, eta and alpha.

    Attributes
    ----------
    variant : ``"self_modifying"`` (NL eq. 83-88: memory, k, v, eta and alpha all adaptive)
        or ``"lmm"`` (Titans eq. 12-14: fixed k/v/q projections, one memory learning
        k -> v with fixed gates; used for the single-memory benchmark).
    hidden : width h of each 2-layer residual MLP memory ``M(x) = x + W1 silu(W2 x)``.
    kind : ``"mlp"`` or ``"linear"`` (``M(x) = W x``, no residual).
    chunk_size : tokens per chunk; gradients are taken at the chunk-start state (eq. 90).
        1 is the exact online rule.
    update_rule : ``"delta"`` (eq. 92 with its sign fixed: the gated delta rule, default)
        or ``"literal93"`` (eq. 93 as printed, which double-counts the ``-eta k k^T`` term).
    proximal : scale each layer's step by ``1 / (1 + eta ||input||^2)``, the exact proximal
        (DGD, NL eq. 56-57 / App. C) step size ``eta' = eta / (1 + eta lambda)``; keeps every
        rank-1 write non-expansive. Off gives the plain gradient step (oracle T1).
    momentum : Titans momentum decay beta in [0, 1): ``S = beta S - eta grad``; 0 disables.
    gates : ``"adaptive"`` (eta, rho produced by the eta/alpha memories) or ``"fixed"``
        (eta = lr, rho = retention, exactly; used by the oracles).
    lr : inner learning rate eta (fixed gates), and the value adaptive gates start near.
    lr_max : ceiling of adaptive eta: ``eta = lr_max * sigmoid(M_eta(x) + b)``.
    retention : retention rho in [0, 1] (fixed gates), and the value adaptive gates start near.
    stop_grad_target : stop the inner gradient at the self-generated target ``M(v)``
        (off by default: with random initial memories the stop-grad rule diverges, see
        docs/model.md, ambiguity 10).
    init_scale : std of the initial memory weights, relative to ``1/sqrt(fan_in)``.
    decay_to : what retention pulls the weights towards: ``"zero"`` (``W <- rho W + S``, the
        paper's form) or ``"init"`` (``W <- W0 + rho (W - W0) + S``: a memory forgets back
        to its meta-learned initial state and can never decay to the constant function).
    memory_target : the value the memory (not k, v, eta, alpha) stores for key k:
        ``"self"``, its own output ``M(v)`` (NL eq. 84-85, every memory generates its own
        values), or ``"value"``, v itself (Titans eq. 12). With "self" a value that has
        been a key returns what was stored for it, so the stored target drifts (docs/model.md).
    self_lr : learning-rate multiplier of the k, v, eta and alpha memories relative to the
        memory (1: the paper's one eta for all). Below 1 the projections that make keys and
        values drift slower than what is stored with them, so a key still finds its value.
    surprise_gates : the eta and rho gates also see the memory's surprise s of the token:
        ``w log(s + 1e-3)`` is added to their logits, with w meta-learned (slow weight
        ``titans/gate_surprise``, zero until trained). Needs adaptive gates.
    grad_clip : largest norm of one token's gradient of one memory (its write is scaled
        down beyond it; 0 = no clip). The self-generated targets make each memory's
        curvature grow with its weights, so without a bound a trained memory can run away
        (docs/model.md measures it). The outer gradient treats the scale as a constant.
    """

    variant: str = "self_modifying"
    hidden: int = 32
    kind: str = "mlp"
    chunk_size: int = 1
    update_rule: str = "delta"
    proximal: bool = True
    momentum: float = 0.5
    gates: str = "adaptive"
    lr: float = 0.05
    lr_max: float = 0.5
    retention: float = 0.999
    stop_grad_target: bool = False
    init_scale: float = 0.5
    decay_to: str = "zero"
    grad_clip: float = 0.0
    memory_target: str = "self"
    self_lr: float = 1.0
    surprise_gates: bool = False

    def validate(self, where: str = "model.titans") -> None:
        _choice(self.variant, TITANS_VARIANTS, f"{where}.variant")
        _positive_int(self.hidden, f"{where}.hidden", MAX_WIDTH)
        _choice(self.kind, MEMORY_KINDS, f"{where}.kind")
        _positive_int(self.chunk_size, f"{where}.chunk_size", MAX_CHUNK)
        _choice(self.update_rule, UPDATE_RULES, f"{where}.update_rule")
        _in_range(self.momentum, 0.0, 1.0, f"{where}.momentum", hi_open=True)
        _choice(self.gates, GATE_MODES, f"{where}.gates")
        _in_range(self.lr, 0.0, 100.0, f"{where}.lr")
        _in_range(self.lr_max, 0.0, 100.0, f"{where}.lr_max")
        if self.gates == "adaptive" and not 0.0 < self.lr < self.lr_max:
            raise ConfigError(f"{where}.lr: {self.lr} must lie in (0, lr_max={self.lr_max}) "
                              "with adaptive gates")
        _in_range(self.retention, 0.0, 1.0, f"{where}.retention")
        if self.gates == "adaptive" and not 0.0 < self.retention < 1.0:
            raise ConfigError(f"{where}.retention: {self.retention} must lie in (0, 1) "
                              "with adaptive gates")
        _in_range(self.init_scale, 0.0, 10.0, f"{where}.init_scale")
        _choice(self.decay_to, DECAY_TARGETS, f"{where}.decay_to")
        _in_range(self.grad_clip, 0.0, 1e6, f"{where}.grad_clip")
        _choice(self.memory_target, MEMORY_TARGETS, f"{where}.memory_target")
        _in_range(self.self_lr, 0.0, 1.0, f"{where}.self_lr")


@dataclass(frozen=True)
class CMSConfig:
    """Continuum Memory System (NL eq. 70-71): a chain of residual MLP levels.

    Attributes
    ----------
    periods : update period C of each level, in steps (1 .. 2^31-1); level l fires when the
        step count is a multiple of C_l. At most 64 levels. Empty disables the CMS: the
        block is the Titans memory alone (its output is the block output).
    hidden : hidden width of each level's MLP.
    lr : learning rate of each level's summed-gradient update (one value for all levels,
        or one per level).
    retention : weight retention rho applied at each update event, in [0, 1].
    proximal : scale each layer's summed step by ``1 / (1 + lr sum_t ||input_t||^2)`` (the
        proximal bound of the delta rule over the chunk) so a level cannot overshoot.
    objective : loss whose gradient drives the level updates: ``"next_step"`` (predict the
        next input from the block output) or ``"reconstruction"`` (reproduce this input).
    decay_to : what retention pulls the weights towards: ``"zero"`` or ``"init"`` (the
        level's meta-learned starting weights), as for the Titans memories.
    """

    periods: tuple[int, ...] = (4, 16, 64)
    hidden: int = 64
    lr: float | tuple[float, ...] = 0.02
    retention: float = 1.0
    proximal: bool = True
    objective: str = "next_step"
    decay_to: str = "zero"

    def validate(self, where: str = "model.cms") -> None:
        if len(self.periods) > MAX_LEVELS:
            raise ConfigError(f"{where}.periods: {len(self.periods)} levels, at most "
                              f"{MAX_LEVELS}")
        for i, p in enumerate(self.periods):
            _positive_int(p, f"{where}.periods[{i}]", MAX_PERIOD)
        _positive_int(self.hidden, f"{where}.hidden", MAX_WIDTH)
        lrs = self.lrs()
        if len(lrs) != len(self.periods) and self.periods:   # no levels: any lr list is unused
            raise ConfigError(f"{where}.lr: {len(lrs)} values for {len(self.periods)} levels")
        for i, lr in enumerate(lrs):
            _in_range(lr, 0.0, 100.0, f"{where}.lr[{i}]")
        _in_range(self.retention, 0.0, 1.0, f"{where}.retention")
        _choice(self.objective, CMS_OBJECTIVES, f"{where}.objective")
        _choice(self.decay_to, DECAY_TARGETS, f"{where}.decay_to")

    def lrs(self) -> tuple[float, ...]:
        """Per-level learning rates."""
        if isinstance(self.lr, (int, float)):
            return (float(self.lr),) * len(self.periods)
        return tuple(float(v) for v in self.lr)[:len(self.periods)] if self.periods else ()


@dataclass(frozen=True)
class ModelConfig:
    """HOPE block: input projection, self-modifying Titans, CMS chain, readout.

    Attributes
    ----------
    d_in : width of the stream's vectors.
    d : model width (keys, values, queries, CMS levels).
    dtype : ``"float32"`` or ``"float64"``.
    context : stream vectors the block sees at once: ``W_in`` reads ``[x_t, x_{t-1}, ...]``
        (a token shift, the short causal convolution of Titans section 4.4), so keys can
        come from the past token and values from the present. 1 reads x_t alone.
    residual : the CMS reads ``x + o`` (the block's input plus the Titans read-out) instead
        of ``o`` alone: a path from the input to the output that the memories refine.
    weights : path of a checkpoint (``nlviz train``) whose slow weights the model starts
        from -- the initial state of every memory, the projections, the gate offsets;
        ``""`` starts from random weights drawn from the seed.
    weights_sha256 : when set, the checkpoint must have this SHA-256 (a recording's config
        carries it, so continuing a run refuses a checkpoint changed since).
    """

    d_in: int = 16
    d: int = 32
    dtype: str = "float32"
    context: int = 1
    residual: bool = False
    weights: str = ""
    weights_sha256: str = ""
    titans: TitansConfig = field(default_factory=TitansConfig)
    cms: CMSConfig = field(default_factory=CMSConfig)

    def validate(self, where: str = "model") -> None:
        _positive_int(self.d_in, f"{where}.d_in", MAX_WIDTH)
        _positive_int(self.d, f"{where}.d", MAX_WIDTH)
        _choice(self.dtype, DTYPES, f"{where}.dtype")
        _positive_int(self.context, f"{where}.context", MAX_CONTEXT)
        self.titans.validate(f"{where}.titans")
        self.cms.validate(f"{where}.cms")


@dataclass(frozen=True)
class StreamConfig:
    """Which input stream feeds the model and its parameters.

    ``params`` holds the stream-specific keys (see ``engine.streams``); they are
    checked against the stream's own parameter dataclass.
    """

    name: str = "regime_shift"
    params: tuple[tuple[str, Any], ...] = ()

    def param_dict(self) -> dict[str, Any]:
        return dict(self.params)

    def validate(self, where: str = "stream") -> None:
        from engine.streams import validate_stream_config  # local: streams imports config

        validate_stream_config(self, where)


@dataclass(frozen=True)
class RunConfig:
    """Run loop settings.

    Attributes
    ----------
    seed : seeds the model initialisation, the stream and the probe reservoir
        (0 .. 2^63-1).
    device : ``"auto"`` (the faster device for this model, measured once at start:
        ``engine.device_choice``), ``"cpu"``, ``"cuda"`` or ``"mps"``.
    probe_every : steps between recall / drift probe evaluations (O7, O8).
    probe_size : number of (key, target) pairs kept in the probe reservoir.
    snapshot_every : steps between weight-matrix snapshots for heatmaps.
    snapshot_max : snapshots are block-averaged down to at most this many rows and columns.
    state_every : steps between full engine-state snapshots (for branching a replay); 0 = never.
    diag_every : steps between the Titans state diagnostics momentum_norm (O3) and
        drift_init (O9), held in between; 1 = every step. Each costs passes over every
        weight, which matters for wide memories stepped per token.
    eval_every : steps between frozen evaluations on held-out windows of every regime
        (``engine.evaluation``; the continual-learning accuracy matrix); 0 = never. One
        evaluation of the default preset (2 regimes x 64 tokens) takes about half the CPU
        time of one per-token step, so 256 costs about 0.2 % of live throughput
        (``bench/eval_cost.py``).
    eval_window : tokens per regime in each held-out window.
    threads : CPU threads for torch; 0 = auto = one thread at every width. On a 2-core
        machine shared with other processes, 2 threads ran 2.5-14x slower than 1 at every
        width (default preset, d = 256 with hidden 512, chunked C = 64), and beside a
        spinning neighbour the default at 2 threads fell to 1/30 of its 1-thread speed;
        per-token steps are dispatch-bound, so a second thread has little to share
        (``bench/threads.py``, docs/benchmarks.md, issue 12). Set it (e.g. 2) to use more
        cores on a machine you know is otherwise idle.
    engine : ``"eager"`` (the reference: one torch call per operation), ``"compiled"`` (the
        fast path, ``engine.fast``: fixed blocks of ``block`` steps compiled once, observables
        copied to the host once per block) or ``"auto"`` (the compiled path where it is
        supported and pays, see ``engine.fast.choose``).
    block : steps per compiled block K (the fast path advances in whole blocks; a batch
        that is not a multiple of K runs its remainder eagerly).
    compile_after : with ``engine = "auto"``, the eager steps after which a background thread
        starts compiling the fast path (in the app's engine process and ``record``; other
        processes, such as a script using ``Session``, stay eager under ``auto``).
    """

    seed: int = 0
    device: str = "auto"
    probe_every: int = 64
    probe_size: int = 64
    snapshot_every: int = 64
    snapshot_max: int = 32
    state_every: int = 1024
    diag_every: int = 1
    eval_every: int = 256
    eval_window: int = 64
    threads: int = 0
    engine: str = "auto"
    block: int = 64
    compile_after: int = 4096

    def validate(self, where: str = "run") -> None:
        _int_in(self.seed, f"{where}.seed", 0, MAX_SEED)
        _choice(self.device, DEVICES, f"{where}.device")
        _positive_int(self.probe_every, f"{where}.probe_every", MAX_PERIOD)
        _positive_int(self.probe_size, f"{where}.probe_size", MAX_PROBES)
        _positive_int(self.snapshot_every, f"{where}.snapshot_every", MAX_PERIOD)
        _positive_int(self.snapshot_max, f"{where}.snapshot_max", MAX_SNAPSHOT_SIDE)
        _positive_int(self.diag_every, f"{where}.diag_every", MAX_PERIOD)
        _int_in(self.threads, f"{where}.threads", 0, MAX_THREADS)
        _int_in(self.state_every, f"{where}.state_every", 0, MAX_PERIOD)
        _int_in(self.eval_every, f"{where}.eval_every", 0, MAX_PERIOD)
        _int_in(self.eval_window, f"{where}.eval_window", 2, MAX_EVAL_WINDOW)
        _choice(self.engine, ENGINES, f"{where}.engine")
        _positive_int(self.block, f"{where}.block", MAX_BLOCK)
        _int_in(self.compile_after, f"{where}.compile_after", 0, MAX_PERIOD)


@dataclass(frozen=True)
class Config:
    """The whole resolved configuration of a run."""

    model: ModelConfig = field(default_factory=ModelConfig)
    stream: StreamConfig = field(default_factory=StreamConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def validate(self) -> Config:
        self.model.validate()
        self.stream.validate()
        self.run.validate()
        return self

    # ---- plain-dict round trip -------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Nested plain dict (JSON/TOML friendly); inverse of ``from_dict``."""
        return _to_plain(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        """Build and validate a Config; unknown keys raise ``ConfigError`` naming the key."""
        return _build(cls, data, "").validate()

    def replace(self, path: str, value: Any) -> Config:
        """Return a copy with the dotted ``path`` (e.g. ``model.titans.lr``) set to ``value``."""
        data = self.to_dict()
        set_dotted(data, path, value)
        return Config.from_dict(data)


# ---- helpers -------------------------------------------------------------------
def set_dotted(data: dict[str, Any], path: str, value: Any) -> None:
    """Set ``data[a][b][c] = value`` for ``path = "a.b.c"``; stream params live under ``stream``."""
    parts = path.split(".")
    node = data
    for i, part in enumerate(parts[:-1]):
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{'.'.join(parts[:i + 1])}: is a value, not a section")
    node[parts[-1]] = value


def _to_plain(obj: Any) -> Any:
    if isinstance(obj, StreamConfig):
        return {"name": obj.name, **{k: _to_plain(v) for k, v in obj.params}}
    if is_dataclass(obj):
        return {f.name: _to_plain(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, tuple):
        return [_to_plain(v) for v in obj]
    return obj


def _build(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'}: expected a table, got {data!r}")
    if cls is StreamConfig:
        data = dict(data)
        name = data.pop("name", StreamConfig.name)
        params = tuple(sorted((k, _freeze(v)) for k, v in data.items()))
        return StreamConfig(name=name, params=params)
    known = {f.name: f for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else key
        if key not in known:
            raise ConfigError(f"{path}: unknown key (known: {', '.join(sorted(known))})")
        default = getattr(cls(), key)
        if is_dataclass(default):
            kwargs[key] = _build(type(default), value, path)
        else:
            kwargs[key] = _coerce(value, default, path)
    return cls(**kwargs)


def _freeze(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _coerce(value: Any, default: Any, path: str) -> Any:
    """Check ``value`` has the type of ``default`` (ints may stand for floats)."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: {value!r} must be true or false")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            if isinstance(value, (list, tuple)) and path.endswith(".lr"):
                return tuple(_coerce(v, 0.0, path) for v in value)
            raise ConfigError(f"{path}: {value!r} must be a number")
        try:
            return float(value)
        except OverflowError:
            raise ConfigError(f"{path}: {_short(value)} is too large for a number") from None
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: {value!r} must be an integer")
        return value
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ConfigError(f"{path}: {value!r} must be a string")
        return value
    if isinstance(default, tuple):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: {value!r} must be a list")
        return tuple(value)
    return value


def _positive_int(value: Any, path: str, hi: int = INT64_MAX) -> None:
    _int_in(value, path, 1, hi)


def _int_in(value: Any, path: str, lo: int, hi: int) -> None:
    """An integer (not a bool) in [lo, hi]; the message gives the range."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError(f"{path}: {value!r} must be an integer")
    if value < lo:
        raise ConfigError(f"{path}: {value!r} must be an integer >= {lo}")
    if value > hi:
        raise ConfigError(f"{path}: {_short(value)} is too large (at most {hi})")


def _short(value: Any) -> str:
    """``repr(value)``, with the middle of a very long one left out."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}...{text[-8:]} ({len(text)} characters)"


def _choice(value: Any, options: tuple[str, ...], path: str) -> None:
    if value not in options:
        raise ConfigError(f"{path}: {value!r} is not one of {', '.join(options)}")


def _in_range(value: Any, lo: float, hi: float, path: str, hi_open: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and lo <= value and (value < hi if hi_open else value <= hi)
    if not ok:
        bracket = ")" if hi_open else "]"
        raise ConfigError(f"{path}: {value!r} must be in [{lo}, {hi}{bracket}")


__all__ = [
    "MAX_CHUNK", "MAX_LEVELS", "MAX_PERIOD", "MAX_PROBES", "MAX_SEED", "MAX_SNAPSHOT_SIDE",
    "MAX_THREADS", "MAX_WIDTH", "CMSConfig", "Config", "ConfigError", "ModelConfig",
    "RunConfig", "StreamConfig", "TitansConfig", "set_dotted",
]
