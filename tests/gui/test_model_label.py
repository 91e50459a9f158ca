"""The config panel says which model the run started from (a checkpoint or random)."""
from __future__ import annotations

from dataclasses import replace


def test_config_panel_names_the_model(qtbot):
    from nlviz.config_loader import load_config
    from nlviz.qt.live.front import live_window
    window = live_window()
    qtbot.addWidget(window)
    panel = window.front.config_panel
    cfg = load_config("tiny")
    panel.set_config(cfg, "tiny")
    assert panel.model_label.text() == "model: random start (no checkpoint)"
    trained = replace(cfg, model=replace(cfg.model, weights="/models/default.npz"))
    panel.set_config(trained, "tiny")
    assert panel.model_label.text() == "model: default.npz (meta-trained start)"
    assert panel.model_label.toolTip() == "/models/default.npz"
    window.close()
