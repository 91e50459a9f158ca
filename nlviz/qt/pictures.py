"""Pictures of one plot or of a whole window, as PNG or SVG (by the file suffix).

One plot: PNG with pyqtgraph's ``ImageExporter``; SVG by rendering the plot's part of the
scene into ``QSvgGenerator`` (vector paths; pyqtgraph's SVGExporter fails on the path
syntax of current Qt). A whole window: PNG via
``QWidget.grab``; SVG via ``QSvgGenerator`` (the widgets rendered into an SVG painter).
"""
from __future__ import annotations

import os

import pyqtgraph as pg
import pyqtgraph.exporters
from PySide6.QtCore import QPoint, QRect, QRectF, QSize
from PySide6.QtGui import QPainter
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QWidget

from nlviz.errors import UserError


def picture_kind(path: str) -> str:
    """Return "png" or "svg" from the file suffix; anything else is refused (UserError)."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".png", ".svg"):
        raise UserError(f"{path}: export as .png or .svg")
    return ext[1:]


def save_plot(item: pg.GraphicsObject, path: str | os.PathLike[str], width: int = 0) -> str:
    """Save one plot (a ``PlotItem`` or any scene item) as PNG or SVG; returns the path."""
    path = os.fspath(path)
    kind = picture_kind(path)
    try:
        if kind == "png":
            exp = pg.exporters.ImageExporter(item)
            if width:
                exp.parameters()["width"] = int(width)
            ok = exp.export(path)
        else:
            ok = _scene_svg(item, path)
    except (OSError, RuntimeError) as exc:
        raise UserError(f"{path}: cannot export: {exc}") from None
    if ok is False or not os.path.exists(path):
        raise UserError(f"{path}: cannot write the picture")
    return path


def _scene_svg(item: pg.GraphicsObject, path: str) -> bool:
    rect = item.sceneBoundingRect()
    gen = QSvgGenerator()
    gen.setFileName(path)
    w, h = max(1, int(rect.width())), max(1, int(rect.height()))
    gen.setSize(QSize(w, h))
    gen.setViewBox(QRect(0, 0, w, h))
    painter = QPainter()
    if not painter.begin(gen):
        return False
    try:
        item.scene().render(painter, QRectF(0, 0, w, h), rect)
    finally:
        painter.end()
    return True


def save_widget(widget: QWidget, path: str | os.PathLike[str], title: str = "nlviz") -> str:
    """Save a whole widget/window as PNG (pixels) or SVG (rendered into an SVG painter)."""
    path = os.fspath(path)
    if picture_kind(path) == "png":
        if not widget.grab().save(path):
            raise UserError(f"{path}: cannot write the picture")
        return path
    size = widget.size()
    gen = QSvgGenerator()
    gen.setFileName(path)
    gen.setSize(QSize(size.width(), size.height()))
    gen.setViewBox(QRect(0, 0, size.width(), size.height()))
    gen.setTitle(title)
    painter = QPainter()
    if not painter.begin(gen):
        raise UserError(f"{path}: cannot write the picture")
    try:
        widget.render(painter, QPoint(0, 0))
    finally:
        painter.end()
    if not os.path.exists(path):
        raise UserError(f"{path}: cannot write the picture")
    return path


__all__ = ["picture_kind", "save_plot", "save_widget"]
