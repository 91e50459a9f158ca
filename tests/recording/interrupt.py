"""Children that a test interrupts with SIGINT must not inherit an ignored SIGINT.

A test runner started in the background of a non-interactive shell (``cmd &``, ``nohup``)
inherits SIGINT set to "ignore", passes it on to its children, and Python then installs no
KeyboardInterrupt handler there: a Ctrl-C test would wait forever. ``preexec_fn=
ctrl_c_default`` gives the child the default SIGINT, as a terminal would."""
from __future__ import annotations

import signal


def ctrl_c_default() -> None:
    """In the child before exec: SIGINT back to its default (Python turns it into Ctrl-C)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
