"""Building an engine for a headless command: a refusal or an allocation failure becomes
one line (``UserError``), never a traceback."""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from nlviz.errors import UserError, one_line

T = TypeVar("T")


def built(make: Callable[[], T], what: str) -> T:
    """``make()``, with a refusal (a config too big for the device's memory) or an
    allocator failure past the estimate turned into one line naming ``what``."""
    from engine.config import ConfigError
    try:
        return make()
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    except (MemoryError, RuntimeError) as exc:    # the allocator, past the estimate
        raise UserError(f"cannot build {what}: {type(exc).__name__}: "
                        f"{one_line(exc, 200)}") from None
