"""``RetentionPanels``: the retention views in one tab widget, fed from the presenter's
slow-panel path, live and in replay alike.

Tabs: "switch-aligned" (``SwitchAlignedPanel``), "evaluation matrix"
(``EvalMatrixPanel``), "forgetting" (``ForgettingPanel``) and "levels"
(``ContributionPanel``: contribution over time and the knock-out / restore action).

``show_frame`` keeps its arguments and draws only the tab in front; the others are drawn
when they are raised. Ablation answers that arrive with the evaluations (live: the
engine's EvalRecords with a variant, through ``FrameSource.evals_at``) are shown in the
levels tab as soon as a new one appears.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QTabWidget, QWidget

from engine.frames import EvalRecord, ProbeRecord, RunSpec
from nlviz.analysis.switches import regime_spans
from nlviz.qt.panels.contribution import ContributionPanel
from nlviz.qt.panels.evalmatrix_panel import EvalMatrixPanel
from nlviz.qt.panels.forgetting import ForgettingPanel
from nlviz.qt.panels.switch_aligned import SwitchAlignedPanel
from nlviz.series.views import HistoryView

TAB_TITLES = ("switch-aligned", "evaluation matrix", "forgetting", "levels")


def latest_ablation(evals: Sequence[EvalRecord]) -> list[EvalRecord]:
    """The newest ablated evaluation in ``evals`` and the regular one of its step
    (``[intact, ablated]``, or ``[ablated]`` alone; ``[]`` when there is none)."""
    ablated = next((e for e in reversed(evals) if e.variant), None)
    if ablated is None:
        return []
    intact = next((e for e in reversed(evals) if not e.variant and e.step == ablated.step),
                  None)
    return [ablated] if intact is None else [intact, ablated]


class RetentionPanels(QTabWidget):
    """The four retention tabs (see the module docstring).

    Signals
    -------
    ablationRequested(str level, object restore_step) : the user asked to knock ``level``
        out (``restore_step`` None) or restore it to the state at ``restore_step`` (int).
    """

    ablationRequested = Signal(str, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.switch_aligned = SwitchAlignedPanel()
        self.evalmatrix = EvalMatrixPanel()
        self.forgetting = ForgettingPanel()
        self.levels = ContributionPanel()
        for title, panel in zip(TAB_TITLES, (self.switch_aligned, self.evalmatrix,
                                             self.forgetting, self.levels)):
            self.addTab(panel, title)
        self.spec: RunSpec | None = None
        self._frame: tuple[HistoryView, list[ProbeRecord], list[EvalRecord]] | None = None
        self._drawn: set[int] = set()              # tabs drawn from the kept frame
        self._ablation_key: tuple[int, str] | None = None
        self._probes_key: tuple[int, int, int] | None = None   # probes the forgetting tab shows
        self.levels.ablationRequested.connect(self.ablationRequested)
        self.currentChanged.connect(lambda _i: self._draw_current())

    def set_spec(self, spec: RunSpec) -> None:
        """A new run (or level set): every tab starts over."""
        self.spec = spec
        self._frame = None
        self._drawn.clear()
        self._ablation_key = self._probes_key = None
        self.switch_aligned.set_spec(spec)
        self.evalmatrix.set_spec(spec)
        self.forgetting.set_levels(spec)
        self.levels.set_spec(spec)

    def show_frame(self, view: HistoryView, probes: list[ProbeRecord],
                   evals: list[EvalRecord]) -> None:
        """The series of the steps shown, the latest probe evaluations and every
        evaluation at or before the cursor (oldest first): the tab in front is drawn now,
        the others when raised; a new ablation answer goes to the levels tab."""
        if self.spec is None:
            return
        self._frame = (view, list(probes), list(evals))
        self._drawn.clear()
        answer = latest_ablation(evals)
        if answer:
            key = (answer[-1].step, answer[-1].variant)
            if key != self._ablation_key:
                self._ablation_key = key
                self.levels.show_ablation(answer)
        self._draw_current()

    def show_ablation(self, records: list[EvalRecord]) -> None:
        """Intact vs ablated held-out loss per regime in the levels tab."""
        self.levels.show_ablation(records)

    def set_state_steps(self, steps: Sequence[int] | np.ndarray | None) -> None:
        """Steps with a kept engine state (replay: the recorded ones): a restore uses the
        newest at or before the chosen step. None: unknown (live; the engine checks)."""
        self.levels.set_state_steps(steps)

    def set_ablation_busy(self, busy: bool, text: str = "") -> None:
        """While an ablation is evaluated: buttons off and ``text`` as the result line."""
        self.levels.set_busy(busy, text)

    def redraw_all(self) -> None:
        """Draw every tab from the kept frame now (tests, screenshots)."""
        for i in range(self.count()):
            self._draw(i)

    def _draw_current(self) -> None:
        self._draw(self.currentIndex())

    def _draw(self, index: int) -> None:
        if self._frame is None or index in self._drawn or index < 0:
            return
        self._drawn.add(index)
        view, probes, evals = self._frame
        panel = self.widget(index)
        if panel is self.switch_aligned:
            self.switch_aligned.show_view(view)
        elif panel is self.evalmatrix:
            self.evalmatrix.set_evals(evals, regime_spans(view.step, view.regime))
        elif panel is self.forgetting:
            key = (probes[0].step, probes[-1].step, len(probes)) if probes else None
            if key is not None and key == self._probes_key:
                return                          # the same probe evaluations: unchanged
            self._probes_key = key
            if probes:
                self.forgetting.set_probes(probes, view)
            else:
                self.forgetting.clear("no probe evaluation at or before this step")
        elif panel is self.levels:
            self.levels.show_view(view)


__all__ = ["TAB_TITLES", "RetentionPanels", "latest_ablation"]
