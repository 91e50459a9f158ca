"""Forgetting curves: Titans recall and CMS drift on separate axes, split by the regime
at write time as ``nlviz.analysis.forgetting_split`` computes it; exact zeros counted in
the caption and marked at the floor, never drawn as perfect recall; the rho^age reference."""
from __future__ import annotations

import numpy as np

from tests.gui import retention_data as rd


def test_split_curves_zero_marks_and_reference(qtbot):
    from nlviz.analysis import forgetting_split as fs
    from nlviz.qt.panels.forgetting import FLOOR, ForgettingPanel
    panel = ForgettingPanel()
    qtbot.addWidget(panel)
    spec, view, probes = rd.spec(), rd.view(), rd.probes(seed=1)
    panel.set_levels(spec)
    panel.set_probes(probes, view)
    want = fs.split_forgetting(probes, np.asarray(view.step), np.asarray(view.regime))
    for i, name in enumerate(spec.level_names):
        for split in ("same", "other"):
            c = panel.curves[(name, split)]
            x, y = c.xData, c.yData                      # raw (getData: log10)
            np.testing.assert_allclose(x, want.centres)
            np.testing.assert_array_equal(y, np.asarray(getattr(want, split)[i], np.float64))
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
    assert sum(d[1] for d in spots["data"]) == n_zero
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
