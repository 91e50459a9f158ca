"""``--window-size WxH``: parsed and checked the same way for both fronts."""
from __future__ import annotations

from PySide6.QtWidgets import QWidget

from nlviz.errors import UserError


def parse_window_size(text: str | None) -> tuple[int, int] | None:
    """``"1600x1000"`` -> (1600, 1000); raises ``UserError`` on bad input."""
    if not text:
        return None
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UserError(f"--window-size {text!r}: expected WIDTHxHEIGHT, e.g. 1600x1000") from None
    if w < 200 or h < 150:
        raise UserError(f"--window-size {text!r}: at least 200x150")
    if w > 16384 or h > 16384:
        raise UserError(f"--window-size {text!r}: at most 16384 on a side")
    return w, h


def check_window_size(window: QWidget, size: tuple[int, int]) -> None:
    """Refuse a ``--window-size`` below what the window's contents need (Qt would silently
    grow the window, and a screenshot would have another size than asked for)."""
    need = window.minimumSizeHint().expandedTo(window.minimumSize())
    if size[0] < need.width() or size[1] < need.height():
        raise UserError(f"--window-size {size[0]}x{size[1]}: the window needs at least "
                        f"{need.width()}x{need.height()}")


__all__ = ["check_window_size", "parse_window_size"]
