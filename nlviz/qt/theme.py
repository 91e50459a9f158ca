"""Colours and palettes: dark by default, light as an option."""
from __future__ import annotations

from dataclasses import dataclass

import pyqtgraph as pg
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

# Level colours (Okabe-Ito-like, distinguishable on dark and light backgrounds).
LEVEL_COLORS = ("#5da5ff", "#ffa94d", "#51cf66", "#ff6b6b", "#cc5de8", "#fcc419",
                "#22b8cf", "#f783ac", "#94d82d", "#adb5bd")

# Regime colours: one per stream regime, shared by every view that marks regimes (loss
# panel bands, replay timeline, compare); muted so curves stay readable on top of them.
REGIME_COLORS = ("#4dabf7", "#ff922b", "#69db7c", "#f06595", "#9775fa", "#ffd43b",
                 "#3bc9db", "#a9e34b")


def regime_color(index: int, alpha: int = 255) -> QColor:
    """Colour of regime ``index`` (cycles; negative = unknown regime, grey)."""
    c = QColor(REGIME_COLORS[index % len(REGIME_COLORS)] if index >= 0 else "#868e96")
    c.setAlpha(alpha)
    return c


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
