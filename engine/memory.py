"""Pure tensor math shared by every memory: forward passes with their caches, closed-form
gradients, the delta / DGD updates and the chunk recurrence coefficients.

No state lives here: functions take tensors and return tensors, so the oracles in
tests/engine can check each equation on its own, in float64.

Shape legend: B memories in a bank, d width, h hidden width, n tokens (columns).
Loss convention (ambiguity 4): ``l = 1/2 ||M(k) - v||^2``, summed over features.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

import torch
from torch import Tensor


def silu_and_slope(z: Tensor) -> tuple[Tensor, Tensor]:
    """``silu(z)`` and its derivative ``s (1 + z (1 - s)) = s (1 + z - silu(z))``."""
    s = torch.sigmoid(z)
    a = z * s
    return a, (z - a).add_(1).mul_(s)


class MLPCache(NamedTuple):
    """What the backward pass of a residual MLP memory needs."""

    x: Tensor   # (..., d, n) input
    a: Tensor   # (..., h, n) hidden activation silu(W2 x)
    da: Tensor  # (..., h, n) silu'(W2 x)


def mlp_forward(w1: Tensor, w2: Tensor, x: Tensor, residual: Tensor | float,
                slope: bool = True) -> tuple[Tensor, MLPCache]:
    """Residual 2-layer memory ``M(x) = r x + W1 silu(W2 x)`` (NL eq. 89).

    w1 (..., d_out, h), w2 (..., h, d), x (..., d, n), residual r broadcastable to the output.
    Returns y (..., d_out, n) and the cache for ``mlp_grad_factors`` (its ``da`` is only
    computed when ``slope`` is true).
    """
    z = w2 @ x                         # (..., h, n)
    if slope:
        a, da = silu_and_slope(z)
    else:
        a, da = torch.nn.functional.silu(z), z
    if isinstance(residual, float) and residual == 1.0 and x.dim() == 2:
        y = torch.addmm(x, w1, a)      # (d, n)
    else:
        y = residual * x + w1 @ a      # (..., d, n)
    return y, MLPCache(x, a, da)


def mlp_grad_factors(w1: Tensor, cache: MLPCache, err: Tensor) -> Tensor:
    """Per-token gradient factors of ``1/2 ||M(x) - target||^2`` (target held fixed).

    For token t: ``grad W1 = e_t a_t^T`` and ``grad W2 = delta_t x_t^T`` with
    ``delta = (W1^T e) * silu'(W2 x)``. Returns delta (..., h, n); the factors for
    W1 are (err, cache.a) and for W2 (delta, cache.x). No per-token gradient is formed.
    """
    return (w1.transpose(-1, -2) @ err) * cache.da       # (..., h, n)


def grad_norm_mlp(err: Tensor, a: Tensor, delta: Tensor, x: Tensor) -> Tensor:
    """O2 surprise ``||grad||_F = sqrt(|e|^2 |a|^2 + |delta|^2 |x|^2)`` per token: (..., n)."""
    sq = err.square().sum(-2) * a.square().sum(-2) + delta.square().sum(-2) * x.square().sum(-2)
    return sq.sqrt()


def gram_frobenius_sq(a: Tensor, b: Tensor) -> Tensor:
    """``||A B^T||_F^2 = sum(A^T A * B^T B)`` without forming A B^T (oracle T8)."""
    return ((a.transpose(-1, -2) @ a) * (b.transpose(-1, -2) @ b)).sum((-1, -2))


class ChunkCoefficients(NamedTuple):
    """Closed form of n steps of ``S_t = beta S_{t-1} - eta_t g_t``, ``W_t = rho_t W_{t-1} + S_t``
    with every g_t taken at the chunk-start state (Titans eq. 16-18, NL eq. 90):

    ``W_n = w0 W_0 + s0 S_0 - sum_t gw_t g_t`` and ``S_n = beta^n S_0 - sum_t sw_t g_t``.
    """

    w0: Tensor   # (...) product of rho over the chunk
    s0: Tensor   # (...) weight of the carried momentum in W_n
    gw: Tensor   # (..., n) weight of each token's gradient in W_n
    sw: Tensor   # (..., n) weight of each token's gradient in S_n
    beta_n: Tensor  # () beta^n


def chunk_coefficients(eta: Tensor, rho: Tensor, beta: float) -> ChunkCoefficients:
    """Coefficients of the within-chunk linear recurrence; eta, rho (..., n), one row per
    independent run; every coefficient has the same leading axes.

    ``suffix[t] = sum_{j>t} log rho_j`` is built by a reversed cumulative sum so that a
    rho of exactly 0 (a wipe) gives -inf and weight 0, never NaN.
    """
    n = eta.shape[-1]
    log_rho = torch.log(rho.clamp_min(0.0))                         # (..., n), -inf at rho 0
    inclusive = torch.flip(torch.cumsum(torch.flip(log_rho, (-1,)), -1), (-1,))  # sum_{j>=t}
    suffix = torch.cat([inclusive[..., 1:], inclusive.new_zeros(inclusive.shape[:-1] + (1,))],
                       -1)                                           # sum_{j>t}
    decay = torch.exp(suffix)                                       # (..., n) prod_{j>t} rho_j
    idx = torch.arange(n, device=eta.device)
    lag = (idx[None, :] - idx[:, None]).to(eta.dtype)               # (n, n) t - s
    beta_t = torch.as_tensor(beta, dtype=eta.dtype, device=eta.device)
    powers = torch.where(lag >= 0, beta_t ** lag.clamp_min(0), torch.zeros_like(lag))  # beta^(t-s)
    gw = eta * (powers @ decay[..., None])[..., 0]                  # (..., n)
    s0 = (decay * beta_t ** (idx + 1).to(eta.dtype)).sum(-1)
    w0 = torch.exp(log_rho.sum(-1))
    sw = eta * beta_t ** (n - 1 - idx).to(eta.dtype)
    return ChunkCoefficients(w0, s0, gw, sw, beta_t ** n)


def delta_step_linear(w: Tensor, k: Tensor, target: Tensor, eta: float, rho: float,
                      rule: str = "delta") -> Tensor:
    """One online step of a linear memory W (d_out, d) on key k (d,) and target (d_out,).

    ``"delta"``: eq. 92 with its sign fixed, ``W' = W (rho I - eta k k^T) + eta v k^T``,
    i.e. ``rho W - eta grad`` when ``rho = 1`` (gated delta rule).
    ``"literal93"``: eq. 93 as printed, ``W' = W (rho I - eta k k^T) - eta (W k - v) k^T``.
    Used by the oracles; the banks apply the same algebra in batched form.
    """
    wk = w @ k
    if rule == "delta":
        return rho * w - eta * torch.outer(wk, k) + eta * torch.outer(target, k)
    return rho * w - eta * torch.outer(wk, k) - eta * torch.outer(wk - target, k)


def block_average(w: Tensor, max_side: int) -> Tensor:
    """Down-sample a (r, c) matrix by block averaging to at most ``max_side`` per side."""
    r, c = w.shape[-2:]
    out = (min(r, max_side), min(c, max_side))
    if out == (r, c):
        return w
    return torch.nn.functional.adaptive_avg_pool2d(w[None, None], out)[0, 0]


def restored(state: dict[str, Tensor], name: str, like: Tensor) -> Tensor:
    """A copy of ``state[name]`` on ``like``'s device and dtype, for ``load_state_dict``:
    the copy keeps in-place updates of the restored memory out of the caller's tensors.

    Raises
    ------
    KeyError : ``name`` is missing. ValueError : its shape is not ``like``'s.
    """
    value = state[name]
    if tuple(value.shape) != tuple(like.shape):
        raise ValueError(f"state: {name} has shape {tuple(value.shape)}, expected "
                         f"{tuple(like.shape)}")
    return value.detach().to(device=like.device, dtype=like.dtype, copy=True)


@contextmanager
def state_prefix(prefix: str) -> Iterator[None]:
    """Errors of ``restored`` inside the block name the tensor with ``prefix`` in front, so
    a composed ``load_state_dict`` reports the full name (``cms0/sq``, not ``sq``)."""
    try:
        yield
    except KeyError as exc:
        raise KeyError(f"{prefix}{exc.args[0]}") from None
    except ValueError as exc:
        raise ValueError(str(exc).replace("state: ", f"state: {prefix}", 1)) from None
