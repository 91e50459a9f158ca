"""Live knock-out: the controller's ``ablate`` reaches the engine process as an ``Ablate``
command, the answer comes back through the buffers (``evals_at``) and the retention tabs
show it."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt


def test_live_knockout_answer_reaches_the_levels_tab(gui, qtbot):
    from nlviz.qt.panels.retention import RetentionPanels
    _window, controller = gui
    buffers = controller.buffers
    controller.step(64)
    qtbot.waitUntil(lambda: buffers.span() is not None and buffers.span()[1] >= 63,
                    timeout=60_000)
    controller.ablate("cms1", None)
    qtbot.waitUntil(lambda: any(e.variant for e in buffers.evals_at(10**9)), timeout=60_000)
    evals = buffers.evals_at(10**9)
    ablated = next(e for e in evals if e.variant)
    intact = next(e for e in evals if not e.variant and e.step == ablated.step)
    assert ablated.variant == "knockout:cms1" and ablated.step == 63
    panels = RetentionPanels()
    qtbot.addWidget(panels)
    panels.set_spec(buffers.spec)
    panels.show_frame(buffers.history(), buffers.probes_at(10**9), evals)
    t, role = panels.levels.table, Qt.ItemDataRole.UserRole
    n = len(intact.losses)
    assert t.rowCount() == n
    np.testing.assert_array_equal([t.item(r, 1).data(role) for r in range(n)],
                                  intact.losses.astype(np.float64))
    np.testing.assert_array_equal([t.item(r, 2).data(role) for r in range(n)],
                                  ablated.losses.astype(np.float64))
