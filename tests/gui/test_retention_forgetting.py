"""Forgetting curves: Titans recall and CMS drift on separate axes, split by the regime
at write time as ``nlviz.analysis.forgetting_split`` computes it; exact zeros counted in
the caption and marked at the floor, never drawn as perfect recall; the rho^age reference."""
from __future__ import annotations

import numpy as np

from tests.gui import retention_data as rd


def test_split_curves_zero_marks_and_reference(qtbot):
    from nlviz.analysis import forgetting_split as fs
    from nlviz.qt.panels.forgetting import FLOOR, ForgettingPanel, bin_centres
    panel = ForgettingPanel()
    qtbot.addWidget(panel)
    spec, view, probes = rd.spec(), rd.view(), rd.probes(seed=1)
    panel.set_levels(spec)
    panel.set_probes(probes, view)
    bins = fs.split_forgetting(probes, spec, np.asarray(view.step), np.asarray(view.regime))
    assert {b.relation for b in bins} >= {"same", "other"}
    for b in bins:
        c = panel.curves[(b.level, b.relation)]
        x, y = c.xData, c.yData                          # raw (getData: log10)
        np.testing.assert_allclose(x, bin_centres(b.edges))
        np.testing.assert_array_equal(y, b.mean)
        assert np.all(np.isfinite(y) <= (b.count > 0))   # no mean where only zeros
    titans, cms = panel.plots["titans"], panel.plots["cms"]
    assert panel.curves[("memory", "same")] in titans.items
    assert panel.curves[("cms1", "same")] in cms.items
    assert panel.curves[("cms1", "same")] not in titans.items
    # exact zeros: 3 per probe evaluation for cms1 (retention_data), counted and marked
    n_zero = int(sum((p.errors[:, p.ages >= 0] <= FLOOR).sum() for p in probes))
    assert n_zero == 3 * len(probes) and panel.zero_count == n_zero
    assert f"{n_zero} exact zeros" in panel.caption.text()
    spots = panel.zero_marks["cms"].data
    assert len(spots) > 0 and np.all(spots["y"] == np.log10(FLOOR))
    assert sum(d[2] for d in spots["data"]) == n_zero
    assert {d[0] for d in spots["data"]} == {"cms1"}
    assert len(panel.zero_marks["titans"].data) == 0
    # rho^age with the memory level's retention (0.99 in retention_data)
    assert panel.rho is not None and abs(panel.rho - 0.99) < 1e-6
    rx, ry = panel.reference.xData, panel.reference.yData
    np.testing.assert_allclose(ry, np.float32(0.99) ** np.asarray(rx, np.float64), rtol=1e-6)
    assert panel.reference in titans.items and panel.reference not in cms.items


def test_clear_empties_every_curve(qtbot):
    from nlviz.qt.panels.forgetting import ForgettingPanel
    panel = ForgettingPanel()
    qtbot.addWidget(panel)
    panel.set_levels(rd.spec())
    panel.set_probes(rd.probes(), rd.view())
    panel.clear("no probe evaluation at or before step 10")
    for c in panel.curves.values():
        assert len(c.xData if c.xData is not None else []) == 0
    assert len(panel.zero_marks["cms"].data) == 0
    assert panel.caption.text() == "no probe evaluation at or before step 10"
