"""The outermost level: gradients through the inner loop, batched runs, truncated BPTT,
repeatability, resume, and data parallelism (2 gloo processes = 1 process)."""
from __future__ import annotations

import os
import socket
from dataclasses import replace

import pytest
import torch
import torch.multiprocessing as mp

from engine.config import CMSConfig, ModelConfig, TitansConfig
from engine.model import HOPE
from engine.outer import OuterLoop, TrainConfig, wired_weights

F64 = torch.float64


def repaired(dtype: str = "float64", **titans) -> ModelConfig:
    """A tiny model with every repair on, two CMS levels and chunked writes."""
    t = dict(hidden=5, chunk_size=2, decay_to="init", grad_clip=1.0, memory_target="value",
             self_lr=0.3, lr=0.2, lr_max=1.0, surprise_gates=True)
    t.update(titans)
    return ModelConfig(d_in=4, d=8, dtype=dtype, context=2, residual=True,
                       titans=TitansConfig(**t),
                       cms=CMSConfig(periods=(2, 4), hidden=5, decay_to="init"))


def sequence_loss(model: HOPE, weights: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Sum over the batch and steps of 1/2 ||w_out y_t - x_{t+1}||^2, from the slow weights."""
    model.start_from(weights, batch=x.shape[0])
    total = x.new_zeros(())
    for t in range(0, x.shape[1] - 2, 2):
        _, _, _, y = model.step(x[:, t:t + 2])
        total = total + 0.5 * ((model.w_out @ y).mT - x[:, t + 1:t + 3]).square().sum()
    return total


@pytest.mark.parametrize("stop_grad", [False, True])
def test_gradients_through_the_inner_loop_match_finite_differences(stop_grad: bool) -> None:
    cfg = repaired(stop_grad_target=stop_grad, grad_clip=100.0)   # a clip that never binds
    model = HOPE(cfg, 0, torch.device("cpu"))
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(3, 12, 4, generator=gen, dtype=F64)
    w = {k: v.detach().clone().requires_grad_(True) for k, v in model.slow_weights().items()}
    sequence_loss(model, w, x).backward()
    checked = 0
    for name, p in w.items():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        flat = p.grad.reshape(-1)
        for i in {int(flat.abs().argmax()), int(torch.randint(flat.numel(), (1,), generator=gen))}:
            eps = 1e-6
            plus = {k: v.detach().contiguous().clone() for k, v in w.items()}
            minus = {k: v.detach().contiguous().clone() for k, v in w.items()}
            plus[name].view(-1)[i] += eps
            minus[name].view(-1)[i] -= eps
            with torch.no_grad():
                fd = (sequence_loss(model, plus, x) - sequence_loss(model, minus, x)) / (2 * eps)
            assert abs(float(flat[i]) - float(fd)) <= 1e-6 * max(1.0, abs(float(fd))), \
                f"{name}[{i}]: autograd {float(flat[i])} vs finite difference {float(fd)}"
            checked += 1
    assert checked >= 2 * len(w) - 2   # a weight with one element is checked once


def test_a_batch_of_runs_equals_each_run_alone() -> None:
    cfg = repaired()
    model = HOPE(cfg, 0, torch.device("cpu"))
    w = model.slow_weights()
    x = torch.randn(3, 10, 4, generator=torch.Generator().manual_seed(2), dtype=F64)
    with torch.no_grad():
        model.start_from(w, batch=3)
        batched = torch.cat([model.step(x[:, t:t + 2])[3] for t in range(0, 10, 2)], -1)
        for b in range(3):
            model.start_from(w)
            alone = torch.cat([model.step(x[b, t:t + 2])[3] for t in range(0, 10, 2)], -1)
            torch.testing.assert_close(alone, batched[b], rtol=0, atol=1e-13)


def test_cutting_the_graph_keeps_the_state() -> None:
    cfg = repaired()
    model = HOPE(cfg, 0, torch.device("cpu"))
    w = {k: v.clone().requires_grad_(True) for k, v in model.slow_weights().items()}
    x = torch.randn(2, 16, 4, generator=torch.Generator().manual_seed(3), dtype=F64)
    runs = []
    for cut in (False, True):
        model.start_from(w, batch=2)
        ys = []
        for t in range(0, 16, 2):
            if cut and t % 8 == 0 and t:
                assert model.titans.bank.w2.grad_fn is not None
                model.detach_state()
                assert model.titans.bank.w2.grad_fn is None
                assert model.cms.levels[0].w1.grad_fn is None
            ys.append(model.step(x[:, t:t + 2])[3].detach())
        runs.append(torch.cat(ys, -1))
    torch.testing.assert_close(runs[0], runs[1], rtol=0, atol=0)


def small_train(**kw) -> TrainConfig:
    base = dict(steps=4, batch=4, segment=8, segments=2, chunk=2, lr=1e-2, warmup=1,
                eval_every=2, eval_episodes=1, init="wired")
    base.update(kw)
    return TrainConfig(**base)


def model_for_training() -> ModelConfig:
    return replace(repaired("float64"), titans=replace(repaired().titans, chunk_size=1))


def train(cfg: TrainConfig, steps: int, loop: OuterLoop | None = None) -> OuterLoop:
    loop = loop or OuterLoop(model_for_training(), cfg, torch.device("cpu"))
    for _ in range(steps):
        loop.step()
    return loop


def test_training_is_repeatable_and_moves_every_group() -> None:
    a, b = train(small_train(), 4), train(small_train(), 4)
    start = OuterLoop(model_for_training(), small_train(), torch.device("cpu")).weights()
    for name, value in a.weights().items():
        torch.testing.assert_close(value, b.weights()[name], rtol=0, atol=0)
    moved = {name for name, value in a.weights().items() if not torch.equal(value, start[name])}
    assert moved == set(start), f"never updated: {sorted(set(start) - moved)}"


def test_wired_start_routes_present_and_past_tokens() -> None:
    cfg = model_for_training()
    random = HOPE(cfg, 0, torch.device("cpu")).slow_weights()
    w = wired_weights(cfg, random)
    x_now, x_past = torch.randn(4, dtype=F64), torch.randn(4, dtype=F64)
    x = w["w_in"] @ torch.cat([x_now, x_past])                        # (d,)
    torch.testing.assert_close((w["titans/w_q"] @ x)[:4], x_now)      # query: the present
    torch.testing.assert_close((w["titans/w_mem_in"][0] @ x)[:4], x_past)  # key: the past
    torch.testing.assert_close(w["w_out"] @ x, x_now)                 # readout copies x_t


def test_resume_from_a_round_boundary_continues_exactly() -> None:
    cfg = small_train()
    straight = train(cfg, 4)
    first = train(cfg, 2)
    again = OuterLoop(model_for_training(), cfg, torch.device("cpu"), weights=first.weights())
    again.restore(first.optimizer_tensors(), first.step_count, first.tokens)
    train(cfg, 2, again)
    for name, value in straight.weights().items():
        torch.testing.assert_close(again.weights()[name], value, rtol=1e-12, atol=1e-14)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ddp_worker(rank: int, world: int, port: int, out: str) -> None:
    import torch.distributed as dist
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        loop = OuterLoop(model_for_training(), small_train(), torch.device("cpu"),
                         rank=rank, world=world)
        stats = [loop.step() for _ in range(3)]
        if rank == 0:
            torch.save({"weights": loop.weights(), "loss": [s.loss for s in stats]}, out)
    finally:
        dist.destroy_process_group()


def test_two_processes_give_the_parameters_of_one_with_the_same_global_batch(tmp_path) -> None:
    one = train(small_train(), 3)
    out = str(tmp_path / "ddp.pt")
    mp.spawn(_ddp_worker, args=(2, _free_port(), out), nprocs=2, join=True)
    got = torch.load(out, weights_only=True)
    for name, value in one.weights().items():
        torch.testing.assert_close(got["weights"][name], value, rtol=1e-9, atol=1e-11,
                                   msg=lambda m, n=name: f"{n}: {m}")
