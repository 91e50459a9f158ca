"""The batched, differentiable engine core reproduces the engine it replaced bit for bit
(no grad, no batch axis, float32 on the CPU) wherever the math did not change."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from golden_engine import CASES, GOLDEN, run_case


@pytest.mark.parametrize("name", sorted(CASES))
def test_no_grad_path_equals_the_old_engine_bit_for_bit(name: str) -> None:
    golden = np.load(GOLDEN)
    with torch.no_grad():
        got = run_case(CASES[name])
    keys = sorted(k[len(name) + 1:] for k in golden.files if k.startswith(f"{name}/"))
    assert keys == sorted(got), f"{name}: different outputs"
    for key in keys:
        want = golden[f"{name}/{key}"]
        assert got[key].dtype == want.dtype
        np.testing.assert_array_equal(got[key], want, err_msg=f"{name}/{key}")
