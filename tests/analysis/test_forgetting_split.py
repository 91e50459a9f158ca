"""Probe errors split by quantity and regime, with exact zeros counted apart."""
from __future__ import annotations

import numpy as np
import pytest

from engine.frames import LevelSpec, ProbeRecord, RunSpec
from nlviz.analysis.forgetting_split import (
    age_edges,
    regime_at,
    rho_age_reference,
    split_forgetting,
)

SPEC = RunSpec((LevelSpec("memory", "titans", 1, (2, 2)), LevelSpec("cms1", "cms", 4, (2, 2))),
               4, 4)


def _run() -> tuple[np.ndarray, np.ndarray, list[ProbeRecord]]:
    step = np.arange(0, 400)
    regime = (step // 100) % 2                        # A 0-99, B 100-199, A 200-299, B 300-399
    # evaluated at step 250 (regime A): written at 245 (A), 150 (B), 60 (A), -1 empty, 240 (A)
    ages = np.array([5, 100, 190, -1, 10])
    errors = np.array([[0.2, 0.5, 0.0, np.nan, 0.4],          # memory: one exact zero
                       [1e-7, 0.03, 0.09, np.nan, np.nan]], np.float32)
    return step, regime, [ProbeRecord(250, ages, errors)]


def test_regime_at_takes_the_row_at_or_before() -> None:
    step = np.array([10, 20, 30])
    np.testing.assert_array_equal(regime_at(step, np.array([0, 1, 2]), np.array([5, 10, 25, 30,
                                                                                 31])),
                                  [-1, 0, 1, 2, -1])


def test_split_by_level_relation_and_age_with_exact_zeros_apart() -> None:
    step, regime, probes = _run()
    edges = np.array([0, 50, 200])
    got = {(b.level, b.relation): b for b in split_forgetting(probes, SPEC, step, regime, edges)}
    assert set(got) == {("memory", "same"), ("memory", "other"), ("cms1", "same"),
                        ("cms1", "other")}
    mem_same = got[("memory", "same")]
    assert mem_same.quantity == "recall"
    # ages 5 and 10 (A -> A) in bin 0: 0.2, 0.4; age 190 (A -> A) in bin 1: exact zero
    np.testing.assert_allclose(mem_same.mean, [0.3, np.nan])
    np.testing.assert_array_equal(mem_same.count, [2, 0])
    np.testing.assert_array_equal(mem_same.zeros, [0, 1])
    mem_other = got[("memory", "other")]
    np.testing.assert_allclose(mem_other.mean, [np.nan, 0.5])
    cms_same = got[("cms1", "same")]
    assert cms_same.quantity == "drift"
    np.testing.assert_array_equal(cms_same.zeros, [1, 0])          # 1e-7 <= floor
    np.testing.assert_allclose(cms_same.mean, [np.nan, 0.09], rtol=1e-6)


def test_pooled_never_mixes_recall_with_drift() -> None:
    step, regime, probes = _run()
    pooled = split_forgetting(probes, SPEC, step, regime, np.array([0, 200]), pooled=True)
    assert [(b.level, b.quantity, b.relation) for b in pooled] == [
        (None, "recall", "same"), (None, "recall", "other"),
        (None, "drift", "same"), (None, "drift", "other")]
    assert pooled[0].mean[0] == pytest.approx(0.3)
    assert pooled[0].zeros[0] == 1


def test_age_edges_cover_the_oldest_probe_and_rho_reference() -> None:
    e = age_edges(1000)
    assert e[0] == 0 and e[-1] > 1000 and np.all(np.diff(e) > 0)
    np.testing.assert_allclose(rho_age_reference(0.99, np.array([0, 1, 100])),
                               [1, 0.99, 0.99 ** 100])
