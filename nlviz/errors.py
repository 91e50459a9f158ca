"""The one exception type the CLI turns into a one-line message."""
from __future__ import annotations


class UserError(Exception):
    """Bad input from the user (file, field, value); printed as one line, no traceback."""


def one_line(exc: BaseException | str, limit: int = 300) -> str:
    """An exception (or text) as one line for a status bar, a dialog or stderr: white space
    runs collapsed, a ``KeyError``'s quotes removed, cut at ``limit`` characters; the type's
    name when the message is empty."""
    if isinstance(exc, KeyError) and exc.args:
        exc = str(exc.args[0])
    text = " ".join(str(exc).split()) or (type(exc).__name__ if isinstance(exc, BaseException) else "")
    return text[:limit]
