"""The run loop shared by the GUI worker and the headless CLI.

``Session`` owns a HOPE model, its input stream and the probe reservoir; ``step(n)``
advances by n steps and returns one ``FrameBatch``; ``apply(command)`` resets,
switches the stream or changes a hyperparameter between steps. ``run`` wraps a
session as a plain generator that yields batches and accepts commands via ``send``.
"""
from __future__ import annotations

import json
import time
from collections.abc import Generator
from typing import Any

import numpy as np
import torch

from engine import events as E
from engine.baselines import baseline_losses
from engine.budget import check_memory, estimate_memory
from engine.checkpoint import model_identity
from engine.commands import LIVE_PARAMS, Ablate, Command, Mark, Reset, SetParam, SwitchStream
from engine.config import Config, ConfigError
from engine.device import DeviceChoice, available_memory, resolve_device
from engine.device_choice import cache_key
from engine.frames import (
    LEVEL_METRICS,
    METRIC_INDEX,
    MODEL_GLOBAL_METRICS,
    EvalRecord,
    EventRecord,
    FrameBatch,
    LevelSpec,
    RunSpec,
)
from engine.model import HOPE
from engine.observables import ProbeSet, snapshot_shapes
from engine.pretrained import load_model_weights
from engine.session_fast import FastStepping
from engine.session_records import SessionRecords
from engine.streams import Stream, make_stream


class EngineFault(RuntimeError):  # noqa: N818 - public name the app and CLI catch
    """The engine raised or produced NaN/inf. ``batch`` holds every step completed before
    (and, for NaN/inf, including) the faulty one, so nothing computed is lost."""

    def __init__(self, message: str, step: int, level: str | None, batch: FrameBatch) -> None:
        where = f"step {step}" + (f", level {level}" if level else "")
        super().__init__(f"{message} ({where})")
        self.step, self.level, self.batch = step, level, batch


class Session(SessionRecords, FastStepping):
    """A HOPE model fed by a stream, advanced step by step.

    Parameters
    ----------
    config : resolved configuration (validated here).
    """

    model: HOPE
    probes: ProbeSet
    stream: Stream
    spec: RunSpec
    origin: int

    def __init__(self, config: Config) -> None:
        self.config = config.validate()
        self._set_device(resolve_device(config.run.device, self.config))
        self.spec_version = 0
        self.step_count = 0          # global, never goes back (one row per step recorded)
        self._t0 = time.perf_counter()
        self._events: list[EventRecord] = []
        self._evals: list[EvalRecord] = []     # ablation results waiting for the next batch
        self._build(config)
        self._events.append(E.start(0, self.stream.describe(), self.stream.regime_names()))

    # ---- construction -----------------------------------------------------------------
    def rebuild(self, config: Config, reason: str = "rebuilt") -> EventRecord:
        """Replace the model with one built from ``config`` (another preset, width, device...).

        The global step count continues; the new model starts from its initial state and
        its stream from t = 0. The spec may change (``spec_version`` increments).
        """
        self._replace_model(config.validate())
        ev = E.rebuild(self.step_count, reason, self.device_name, self.config.to_dict())
        self._events.append(ev)
        return ev

    def _replace_model(self, config: Config) -> None:
        """A new model (and spec) from a validated config, on its device if that changed."""
        before = self.device_choice
        resized = cache_key(config, ()) != cache_key(self.config, ())
        if config.run.device != self.config.run.device or (config.run.device == "auto"
                                                           and resized):
            self._set_device(resolve_device(config.run.device, config))  # measured once per size
        try:
            self._build(config)
        except BaseException:
            self._set_device(before)             # the old model stays, on its device
            raise
        self.spec_version += 1

    def _set_device(self, choice: DeviceChoice) -> None:
        """Adopt ``choice``: ``device``, ``device_name``, ``device_note`` (a warning or None)
        and ``device_reason`` (why this device, shown in the status bar and recorded)."""
        self.device_choice = choice
        self.device, self.device_name = choice.device, choice.name
        self.device_note, self.device_reason = choice.note, choice.reason

    def _build(self, config: Config) -> None:
        # Refuse before allocating: a config too big for this device's memory, or a stream
        # that cannot be read, leaves the current model in place. A model being replaced
        # is released before the new one is built, so its memory counts as available.
        avail, where = available_memory(self.device)
        if avail is not None and getattr(self, "model", None) is not None:
            avail += estimate_memory(self.config.model, self.config.run).persistent
        check_memory(config.model, config.run, avail, where, host=self.device.type != "cuda")
        stream: Stream = make_stream(config.stream, config.model.d_in, config.run.seed)
        ckpt, weights = load_model_weights(config.model)
        if getattr(self, "model", None) is not None:
            del self.model, self.probes   # released before the new model is allocated
        self.config = config
        if self.device.type == "cpu":
            _set_threads(config)          # run.threads may have changed
        self.model = HOPE(config.model, config.run.seed, self.device, weights)
        self.model_identity = model_identity(ckpt)
        self.model.titans.diag_every = config.run.diag_every
        self.stream = stream
        self.probes = ProbeSet(self.model, config.run.probe_size, config.run.seed)
        self._build_fast(config, lambda: HOPE(config.model, config.run.seed, self.device,
                                              weights))
        self.origin = self.step_count  # global step at which this model started (stream t = 0)
        shapes = snapshot_shapes(self.model, config.run.snapshot_max)
        levels = tuple(
            LevelSpec(name, "cms" if name.startswith("cms") else "titans", period, shape)
            for name, period, shape in zip(self.model.level_names, self.model.update_periods, shapes))
        self.spec = RunSpec(levels=levels, d_in=config.model.d_in, probe_size=config.run.probe_size,
                            regime_names=tuple(stream.regime_names()))
        self._prev_input: np.ndarray | None = None     # last input fed (copy baseline)
        self._reset_records()
        contrib = METRIC_INDEX["contribution"]
        self._nan_by_design = np.zeros((len(levels), len(LEVEL_METRICS)), bool)  # (L, M)
        for j, lv in enumerate(levels):
            self._nan_by_design[j, contrib] = lv.kind == "titans" and lv.name != "memory"

    def _event_step(self) -> int:
        return self.step_count

    @property
    def stream_description(self) -> str:
        return self.stream.describe()

    @property
    def regime_names(self) -> tuple[str, ...]:
        """Labels of the current stream's ``regime`` values."""
        return tuple(self.stream.regime_names())

    @property
    def torch_version(self) -> str:
        """The torch version computing this session (``Recorder(torch_version=...)``)."""
        return str(torch.__version__)

    # ---- stepping ---------------------------------------------------------------------
    def step(self, n: int = 1) -> FrameBatch:
        """Advance ``n`` steps; returns their frames (and any events since the last call)."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        run = self.config.run
        t0 = self.step_count
        local0 = self.model.count
        sample = self.stream.sample(t0 - self.origin, n)
        baselines = self._baselines(sample)
        x_all = torch.from_numpy(sample.x).to(device=self.device, dtype=self.model.dtype)
        metrics: list[torch.Tensor] = []
        scalars: list[torch.Tensor] = []
        walls: list[np.ndarray] = []
        extra: dict[str, list] = {"probes": [], "snapshots": [], "states": [], "evals": []}
        done = 0
        try:
            with torch.inference_mode():
                while done < n:
                    room = min(n - done, self._room_to_record(run))
                    m = self._fast_steps(x_all[done:done + room], local0 + done, metrics,
                                         scalars)
                    if m == 0:                    # the eager reference, chunk by chunk
                        m = min(self.model.chunk_room(), room)
                        met, sc, read, _ = self.model.step(x_all[done:done + m])
                        self.probes.offer(self.model, read, local0 + done)
                        metrics.append(met)
                        scalars.append(sc)
                    done += m
                    self.step_count = t0 + done
                    walls.append(np.full(m, time.perf_counter() - self._t0))
                    self._sparse(local0 + done - m, local0 + done, t0 + done, run, extra)
        except Exception as exc:
            batch = self._assemble(t0, local0, done, metrics, scalars, walls, sample, extra,
                                   baselines)
            raise EngineFault(f"{type(exc).__name__}: {exc}", t0 + done, None, batch) from exc
        batch = self._assemble(t0, local0, n, metrics, scalars, walls, sample, extra, baselines)
        self._check_finite(batch)
        return batch

    def _baselines(self, sample: Any) -> np.ndarray:
        """(n, 3) copy, zero and oracle losses of the window about to be fed
        (``engine.baselines``); advances the remembered last input, so once per window."""
        next_step = self.config.model.cms.objective == "next_step"
        prev = self._prev_input
        if prev is None and next_step and not (self.model.count == 0 and
                                               self.model.prev_o is None):
            prev = self._input_before()
        self._prev_input = sample.x[-1].astype(np.float64)
        return baseline_losses(sample.x, sample.clean, prev, next_step)

    def _input_before(self) -> np.ndarray | None:
        """The input fed just before the current model step, read back from the stream
        (after a state restore the session did not see it itself)."""
        local = self.step_count - self.origin
        return None if local <= 0 else self.stream.sample(local - 1, 1).x[0].astype(np.float64)

    def _assemble(self, t0: int, local0: int, n: int, metrics: list, scalars: list, walls: list,
                  sample: Any, extra: dict[str, list], baselines: np.ndarray) -> FrameBatch:
        G = len(MODEL_GLOBAL_METRICS)
        if metrics:
            dev = torch.cat([torch.cat(metrics).flatten(1), torch.cat(scalars)], 1)
            host = dev.float().cpu().numpy()                          # the one host copy
        else:
            host = np.zeros((0, len(self.spec.levels) * len(self.spec.level_metrics) + G),
                            np.float32)
        L, M = len(self.spec.levels), len(self.spec.level_metrics)
        scal = np.concatenate([host[:, L * M:], baselines[:len(host)]], 1)  # (n, G_all)
        level = host[:, :L * M].reshape(-1, L, M)
        level[:, self._nan_by_design] = np.nan       # contribution of the steering memories
        periods = np.asarray(self.spec.update_periods)
        steps = np.arange(t0, t0 + n, dtype=np.int64)
        local = np.arange(local0 + 1, local0 + n + 1)[:, None]       # model steps done
        fired = (local % periods[None, :] == 0).astype(np.uint8)
        events, self._events = self._events, []
        evals, self._evals = self._evals + extra["evals"], []
        return FrameBatch(
            step=steps, level=np.ascontiguousarray(level), fired=fired,
            scalars=scal, inputs=sample.x[:n],
            regime=sample.regime[:n], token=sample.token[:n],
            wall_time=np.concatenate(walls) if walls else np.zeros(0),
            probes=extra["probes"], snapshots=extra["snapshots"], events=events,
            states=extra["states"], evals=evals)

    def _check_finite(self, batch: FrameBatch) -> None:
        bad = ~np.isfinite(batch.level)
        bad[:, self._nan_by_design] = False          # contribution of the steering memories
        model_scalars = batch.scalars[:, :len(MODEL_GLOBAL_METRICS)]
        if not bad.any() and np.isfinite(model_scalars).all():
            return
        if bad.any():
            i, li, mi = np.argwhere(bad)[0]
            level, what = self.spec.levels[li].name, self.spec.level_metrics[mi]
        else:
            i, gi = np.argwhere(~np.isfinite(model_scalars))[0]
            level, what = None, MODEL_GLOBAL_METRICS[gi]
        step = int(batch.step[i])
        raise EngineFault(f"non-finite {what}", step, level, _head(batch, i + 1))

    def take_events(self) -> FrameBatch | None:
        """Events queued since the last step as a zero-step batch (None if there are none),
        so a recorder can write a pause, stream switch or stop without waiting for a step."""
        if not self._events:
            return None
        batch = FrameBatch.empty(self.spec)
        batch.events, self._events = self._events, []
        batch.evals, self._evals = self._evals, []
        return batch

    # ---- commands ---------------------------------------------------------------------
    def apply(self, command: Command) -> EventRecord:
        """Apply a command between steps; the event is also attached to the next batch."""
        step = self.step_count
        if isinstance(command, Reset):
            self._build(self.config)
            ev = E.reset(step)
        elif isinstance(command, SwitchStream):
            self.config = Config(self.config.model, command.stream, self.config.run).validate()
            self.stream = make_stream(command.stream, self.config.model.d_in, self.config.run.seed)
            ev = E.stream(step, command.stream, self.stream.describe(), self.stream.regime_names())
        elif isinstance(command, SetParam):
            ev = self._set_param(command.path, command.value, step)
        elif isinstance(command, Mark):
            ev = E.mark(step, command.kind, command.detail)
        elif isinstance(command, Ablate):
            ev = self._ablate(command, step)
        else:
            raise TypeError(f"unknown command {command!r}")
        self._events.append(ev)
        return ev

    def _set_param(self, path: str, value: Any, step: int) -> EventRecord:
        new = self.config.replace(path, value)              # raises ConfigError naming the key
        if path in LIVE_PARAMS:
            self.config = new
            self.model.set_hyper(new.model)
            self.model.titans.diag_every = new.run.diag_every
            return E.set_params(step, [(path, value)], live=True, device=self.device_name)
        self._replace_model(new)
        return E.set_params(step, [(path, value)], live=False, device=self.device_name)

    # ---- state ------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Full engine state as numpy arrays (restorable with ``load_state``): the counters
        ``step_count``, ``model_count`` and ``origin``, the model's ``state_dict`` as
        ``model/<name>``, the probe reservoir as ``probes/<name>`` and ``config_json``.
        These names are stored in recordings; keep them (old files must still load)."""
        out: dict[str, np.ndarray] = {"step_count": np.array(self.step_count),
                                      "model_count": np.array(self.model.count),
                                      "origin": np.array(self.origin)}
        for name, t in self.model.state_dict().items():   # raises inside a Titans chunk
            out[f"model/{name}"] = t.detach().cpu().numpy().copy()
        for name, a in self.probes.state().items():
            out[f"probes/{name}"] = a
        out["config_json"] = np.array(json.dumps(self.config.to_dict()))
        return out

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore a state taken by ``state_dict`` (same model config).

        Raises
        ------
        ConfigError : a tensor is missing or has another shape (another model config).
        """
        tensors = {k[6:]: torch.from_numpy(np.asarray(v)) for k, v in state.items()
                   if k.startswith("model/")}
        try:
            self.model.load_state_dict(tensors, int(state["model_count"]))
        except KeyError as exc:
            raise ConfigError(f"state: missing model/{exc.args[0]}") from None
        except ValueError as exc:
            raise ConfigError(str(exc).replace("state: ", "state: model/", 1)) from None
        self.step_count = int(state["step_count"])
        self.origin = int(state["origin"])
        self._prev_input = None                          # read back from the stream
        self.kept_states.clear()                         # states of another timeline
        self.probes.load({k[7:]: v for k, v in state.items() if k.startswith("probes/")},
                         self.device, self.model.dtype)
        self._events.append(E.restored(self.step_count))


AUTO_THREADS = 1   # run.threads = 0 on the CPU: see RunConfig (measured by bench/threads.py)


def thread_count(config: Config) -> int:
    """The CPU thread count a session of ``config`` runs at: ``run.threads`` when set, else
    ``AUTO_THREADS`` (one thread at every width: two threads collapse beside a busy process)."""
    return config.run.threads or AUTO_THREADS


def _set_threads(config: Config) -> None:
    """Apply ``run.threads`` (0 = auto, see RunConfig)."""
    n = thread_count(config)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def _head(batch: FrameBatch, n: int) -> FrameBatch:
    """The first n steps of a batch, with the sparse records that fall inside them."""
    last = int(batch.step[n - 1])
    return FrameBatch(
        step=batch.step[:n], level=batch.level[:n], fired=batch.fired[:n],
        scalars=batch.scalars[:n], inputs=batch.inputs[:n], regime=batch.regime[:n],
        token=batch.token[:n], wall_time=batch.wall_time[:n],
        probes=[p for p in batch.probes if p.step <= last],
        snapshots=[s for s in batch.snapshots if s.step <= last],
        events=batch.events, states=[s for s in batch.states if s.step <= last],
        evals=[e for e in batch.evals if e.step <= last])


def run(source: Config | Session, batch: int = 1, steps: int | None = None
        ) -> Generator[FrameBatch, Command | None, None]:
    """The run as a plain generator, shared by the CLI and the GUI's engine process.

    ``source`` is a Config (a new Session is built) or an existing Session. Each ``next``
    yields ``batch`` steps (fewer at the end); ``send(cmd)`` applies a command (Reset,
    SwitchStream, SetParam, Mark) before the next batch and yields that batch. Stops after
    ``steps`` steps if given, else runs forever.
    """
    session = source if isinstance(source, Session) else Session(source)
    done = 0
    cmd: Command | None = None
    while steps is None or done < steps:
        if cmd is not None:
            session.apply(cmd)
        n = batch if steps is None else min(batch, steps - done)
        frames = session.step(n)
        done += n
        cmd = yield frames
