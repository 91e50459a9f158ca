"""``nlviz train``: meta-train the slow weights (the outermost level of nesting)."""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from nlviz.errors import UserError


def add_train_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="meta-train the model's slow weights (torchrun for "
                       "several processes)")
    p.add_argument("--config", default="default",
                   help="training config: shipped name (nlviz/training) or .toml path")
    p.add_argument("--out", required=True, help="checkpoint to write (.npz)")
    p.add_argument("--record", metavar="TRAIN.h5", help="record every outer step to HDF5")
    p.add_argument("--resume", metavar="CKPT.npz",
                   help="continue a checkpoint written by nlviz train (its configs win)")
    p.add_argument("--steps", type=int, help="total outer steps (default: the config's)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override e.g. train.batch=8 or model.titans.hidden=16 (repeatable)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--threads", type=int, default=0,
                   help="CPU threads for torch (default: 1 per process)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace --out and --record if they exist (refused otherwise)")
    p.add_argument("--no-progress", action="store_true", help="no progress line")


def run_train(args: argparse.Namespace) -> int:
    import torch

    from nlviz.training.config import load_train_config
    from nlviz.training.run import TrainJob, run_training
    model, train = load_train_config(args.config, args.overrides)
    if args.steps is not None:
        if args.steps < 1:
            raise UserError(f"--steps: {args.steps} must be at least 1")
        train = replace(train, steps=args.steps)
    # --resume may write its checkpoint back in place and appends to its recording
    kept = [(args.out, args.out != args.resume), (args.record, not args.resume)]
    for path, refuse in kept:
        if path and refuse and Path(path).exists() and not args.overwrite:
            raise UserError(f"{path}: exists (use --overwrite to replace it)")
    if args.threads < 0:
        raise UserError(f"--threads: {args.threads} must be >= 0")
    torch.set_num_threads(args.threads or 1)
    job = TrainJob(model=model, train=train, out=args.out, record=args.record,
                   resume=args.resume, device=args.device, overwrite=args.overwrite,
                   progress=not args.no_progress)
    return run_training(job, say=lambda line: print(line, file=sys.stderr))
