"""Drive the outer loop: progress, held-out evaluation, the training recording, checkpoints
(at the end, on Ctrl-C, for ``--resume``) and, under ``torchrun``, data parallelism.

Only rank 0 writes files and prints; every rank runs the same steps.
"""
from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import torch

from engine.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from engine.config import Config, ConfigError, ModelConfig
from engine.outer import GATE_STATS, GROUPS, OuterLoop, StepStats, TrainConfig
from engine.pretrained import OPTIMIZER_PREFIX, model_weights
from engine.tasks import TASKS
from nlviz import __version__
from nlviz.errors import UserError
from nlviz.training.config import train_config_dict, train_config_from_dict


@dataclass(frozen=True)
class TrainJob:
    """One ``nlviz train`` invocation, resolved."""

    model: ModelConfig
    train: TrainConfig
    out: str
    record: str | None = None
    resume: str | None = None
    device: str = "cpu"
    overwrite: bool = False
    progress: bool = True


def distributed() -> tuple[int, int]:
    """(rank, world size); initialises torch.distributed when started by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    import torch.distributed as dist
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), dist.get_world_size()


def resolve_device(name: str, rank: int) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise UserError("--device cuda: no CUDA device here")
        return torch.device("cuda", rank % torch.cuda.device_count())
    return torch.device("cpu")


def checkpoint_meta(loop: OuterLoop, model: ModelConfig, last: StepStats | None,
                    heldout: tuple[float, ...] | None, wall: float) -> dict[str, Any]:
    """Everything a checkpoint says about itself (see docs/checkpoint-format.md)."""
    live = Config(model=replace(model, weights="", weights_sha256="")).to_dict()["model"]
    losses = {t: (None if last is None or math.isnan(v) else v)
              for t, v in zip(TASKS, last.loss if last else [math.nan] * len(TASKS))}
    return {
        "config": live,
        "outer_steps": loop.step_count,
        "seed": loop.cfg.seed,
        "tasks": dict(loop.cfg.tasks),
        "final_losses": losses,
        "heldout_losses": {t: (None if heldout is None or math.isnan(v) else v)
                           for t, v in zip(TASKS, heldout or [math.nan] * len(TASKS))},
        "nlviz_version": __version__,
        "torch_version": str(torch.__version__),
        "train_chunk": loop.cfg.chunk,
        "train": train_config_dict(loop.cfg),
        "tokens": loop.tokens,
        "skipped_steps": loop.skipped,
        "world_size": loop.world,
        "device": str(loop.device),
        "wall_time_s": round(wall, 3),
    }


def resume_state(path: str) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict]:
    """(slow weights, optimizer tensors, metadata) of a checkpoint to continue."""
    try:
        ckpt = load_checkpoint(path)
    except CheckpointError as exc:
        raise UserError(f"--resume: {exc}") from None
    if "train" not in ckpt.meta:
        raise UserError(f"--resume: {path}: metadata field train is missing (not written "
                        "by nlviz train)")
    optim = {k: v for k, v in ckpt.weights.items() if k.startswith(OPTIMIZER_PREFIX)}
    return model_weights(ckpt), optim, ckpt.meta


def run_training(job: TrainJob, say: Callable[[str], None] = print) -> int:
    """Train, write the checkpoint (and the recording); returns an exit status."""
    rank, world = distributed()
    device = resolve_device(job.device, rank)
    weights = optim = None
    model, tcfg = job.model, job.train
    if job.resume:
        weights, optim, meta = resume_state(job.resume)
        model = _model_config(meta["config"], job.resume)
        tcfg = replace(train_config_from_dict(meta["train"], job.resume), steps=job.train.steps)
    if tcfg.batch % world:
        raise UserError(f"train.batch: {tcfg.batch} episodes cannot be split evenly over "
                        f"{world} processes")
    loop = OuterLoop(model, tcfg, device, weights, rank, world)
    if job.resume and optim is not None:
        loop.restore(optim, int(meta["outer_steps"]), int(meta.get("tokens", 0)))
    writer = _open_recording(job, loop, model, device) if rank == 0 and job.record else None
    t0 = time.perf_counter() - (float(meta.get("wall_time_s", 0.0)) if job.resume else 0.0)
    last: StepStats | None = None
    heldout: tuple[float, ...] | None = None
    status = 0
    stop = _StopFlag()
    try:
        while loop.step_count < tcfg.steps and not stop.raised:
            last = loop.step()
            due = last.step % tcfg.eval_every == 0 or last.step == tcfg.steps
            heldout = loop.evaluate() if due else None
            if writer is not None:
                writer.append(_row(last, heldout, time.perf_counter() - t0))
            if rank == 0 and job.progress:
                _progress(last, tcfg.steps, t0)
    except KeyboardInterrupt:   # a second Ctrl-C: leave the step at once
        stop.raised = True
    finally:
        stop.restore()
        if writer is not None:
            writer.close()
    if stop.raised:
        status = 130
        if rank == 0 and job.progress:
            sys.stderr.write("\n")
    if rank == 0:
        if job.progress and status == 0:
            sys.stderr.write("\n")
        wall = time.perf_counter() - t0
        meta_out = checkpoint_meta(loop, model, last, heldout, wall)
        tensors = {**loop.weights(), **loop.optimizer_tensors()}
        try:
            sha = save_checkpoint(job.out, tensors, meta_out)
        except CheckpointError as exc:
            raise UserError(str(exc)) from None
        what = "interrupted; saved" if status else "saved"
        say(f"{what} {job.out} after {loop.step_count} outer steps "
            f"({loop.tokens:,} tokens, {wall:.0f} s, sha256 {sha[:12]})"
            + (f"; continue with --resume {job.out}" if status else ""))
    return status


def _model_config(section: dict[str, Any], where: str) -> ModelConfig:
    try:
        return Config.from_dict({"model": section}).model
    except ConfigError as exc:
        raise UserError(f"{where}: {exc}") from None


def _open_recording(job: TrainJob, loop: OuterLoop, model: ModelConfig,
                    device: torch.device) -> Any:
    assert job.record is not None
    from nlviz.recording.training_writer import TrainingRecorder
    return TrainingRecorder(job.record, tasks=TASKS, groups=GROUPS, gate_stats=GATE_STATS,
                            config=train_config_dict(loop.cfg),
                            model_config=Config(model=model).to_dict()["model"],
                            device=str(device), torch_version=str(torch.__version__),
                            overwrite=job.overwrite, append=bool(job.resume),
                            resume_step=loop.step_count + 1 if job.resume else None)


def _row(s: StepStats, heldout: tuple[float, ...] | None, wall: float) -> Any:
    from nlviz.recording.training_writer import TrainingRow
    return TrainingRow(step=s.step, wall_time=wall, lr=s.lr, tokens=s.tokens, total=s.total,
                       loss=s.loss, heldout=heldout or (math.nan,) * len(TASKS),
                       grad_norm=s.grad_norm, gates=s.gates)


class _StopFlag:
    """The first Ctrl-C asks the loop to stop after the outer step under way (so the
    checkpoint holds whole AdamW steps); a second one interrupts at once."""

    def __init__(self) -> None:
        import signal
        self.raised = False
        self._signal = signal
        try:
            self._old: Any = signal.signal(signal.SIGINT, self._handle)
        except ValueError:          # not the main thread: Ctrl-C is not ours to catch
            self._old = None

    def _handle(self, signum: int, frame: Any) -> None:
        if self.raised:
            raise KeyboardInterrupt
        self.raised = True

    def restore(self) -> None:
        if self._old is not None:
            self._signal.signal(self._signal.SIGINT, self._old)


def _progress(s: StepStats, total: int, t0: float) -> None:
    dt = max(time.perf_counter() - t0, 1e-9)
    width = 24
    filled = int(width * s.step / max(total, 1))
    losses = " ".join(f"{t[:6]} {v:.3f}" for t, v in zip(TASKS, s.loss) if not math.isnan(v))
    skipped = f" skipped {s.skipped}" if s.skipped else ""
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {s.step}/{total} "
                     f"{s.step / dt:.2f} steps/s {s.tokens / dt:,.0f} tok/s  loss {s.total:.3f} "
                     f"({losses}){skipped}   ")
    sys.stderr.flush()
