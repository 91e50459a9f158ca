"""The one exception type the CLI turns into a one-line message."""
from __future__ import annotations


class UserError(Exception):
    """Bad input from the user (file, field, value); printed as one line, no traceback."""
