"""Colours and palettes: dark by default, light as an option."""
from __future__ import annotations

from dataclasses import dataclass

import pyqtgraph as pg
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

# Level colours (Okabe-Ito-like, distinguishable on dark and light backgrounds).
LEVEL_COLORS = ("#5da5ff", "#ffa94d", "#51cf66", "#ff6b6b", "#cc5de8", "#fcc419",
                "#22b8cf", "#f783ac", "#94d82d", "#adb5bd")

# Regime band colours (drawn translucent behind the loss); cycles for many regimes.
REGIME_COLORS = ("#4dabf7", "#ff922b", "#69db7c", "#f06595", "#9775fa", "#ffd43b",
                 "#3bc9db", "#a9e34b")
REGIME_ALPHA = 46
# Baselines of the loss panel: what copying the input, predicting zero and the stream's
# own best predictor score on the same stream.
BASELINE_COLORS = {"copy_loss": "#adb5bd", "zero_loss": "#868e96", "oracle_loss": "#51cf66"}
LOSS_COLOR = "#ffa94d"
FLAG_COLOR = "#ff6b6b"


@dataclass(frozen=True)
class Theme:
    """A named set of UI colours."""

    name: str
    background: str
    foreground: str
    panel: str
    text: str
    accent: str
    error: str


DARK = Theme("dark", "#15171c", "#c8ccd4", "#1e2128", "#e6e8ec", "#4ea1ff", "#ff6b6b")
LIGHT = Theme("light", "#ffffff", "#30343b", "#f2f3f5", "#15171c", "#1f6fd1", "#c62828")


def level_color(index: int, alpha: int = 255) -> QColor:
    """Colour of level ``index`` (cycles), with optional transparency."""
    c = QColor(LEVEL_COLORS[index % len(LEVEL_COLORS)])
    c.setAlpha(alpha)
    return c


def level_pen(index: int, faint: bool = False) -> pg.QtGui.QPen:
    """Width-1 cosmetic pen (wider pens are ~50x slower to draw)."""
    pen = pg.mkPen(level_color(index, 70 if faint else 255), width=1)
    pen.setCosmetic(True)
    return pen


def regime_color(regime: int, alpha: int = REGIME_ALPHA) -> QColor:
    """Translucent band colour of regime ``regime`` (cycles)."""
    c = QColor(REGIME_COLORS[regime % len(REGIME_COLORS)])
    c.setAlpha(alpha)
    return c


def pen(color: str, alpha: int = 255, dash: bool = False) -> pg.QtGui.QPen:
    """Width-1 cosmetic pen of ``color`` (optionally translucent or dashed)."""
    c = QColor(color)
    c.setAlpha(alpha)
    p = pg.mkPen(c, width=1, style=pg.QtCore.Qt.PenStyle.DashLine if dash else
                 pg.QtCore.Qt.PenStyle.SolidLine)
    p.setCosmetic(True)
    return p


def apply_theme(app: QApplication, theme: Theme) -> None:
    """Set pyqtgraph defaults and the Qt palette."""
    pg.setConfigOptions(background=theme.background, foreground=theme.foreground,
                        antialias=False, imageAxisOrder="row-major")
    app.setStyle("Fusion")
    pal = QPalette()
    bg, panel, text = QColor(theme.background), QColor(theme.panel), QColor(theme.text)
    for role, color in ((QPalette.ColorRole.Window, panel), (QPalette.ColorRole.Base, bg),
                        (QPalette.ColorRole.AlternateBase, panel), (QPalette.ColorRole.Button, panel),
                        (QPalette.ColorRole.Text, text), (QPalette.ColorRole.WindowText, text),
                        (QPalette.ColorRole.ButtonText, text), (QPalette.ColorRole.ToolTipBase, panel),
                        (QPalette.ColorRole.ToolTipText, text), (QPalette.ColorRole.Highlight, QColor(theme.accent)),
                        (QPalette.ColorRole.HighlightedText, QColor("#ffffff"))):
        pal.setColor(role, color)
    pal.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor(theme.foreground).darker(160))
    pal.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText, QColor(theme.foreground).darker(160))
    app.setPalette(pal)


def theme_for(light: bool) -> Theme:
    """The light or the dark theme."""
    return LIGHT if light else DARK
