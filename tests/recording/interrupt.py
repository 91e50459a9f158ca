"""Children that a test interrupts with SIGINT must not inherit an ignored SIGINT.

A test runner started in the background of a non-interactive shell (``cmd &``, ``nohup``)
inherits SIGINT set to "ignore", passes it on to its children, and Python then installs no
KeyboardInterrupt handler there: a Ctrl-C test would wait forever. ``preexec_fn=
ctrl_c_default`` gives the child the default SIGINT, as a terminal would."""
from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path


def ctrl_c_default() -> None:
    """In the child before exec: SIGINT back to its default (Python turns it into Ctrl-C)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt(proc: subprocess.Popen, timeout: float = 60) -> str:
    """Send Ctrl-C (SIGINT) to ``proc`` and return its stderr once it has exited; a child
    that does not honour it within ``timeout`` is killed (no run left eating the CPU) and
    the time-out propagates."""
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return err


def wait_for_rows(path: Path, rows: int, timeout: float = 60) -> None:
    """Wait until the recording at ``path`` (being written by a child) holds ``rows`` rows,
    or ``timeout`` seconds passed (the test's own assertions then say what is missing)."""
    from nlviz.recording.reader import Recording
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        time.sleep(0.3)
        try:
            with Recording.open(path) as rec:
                if rec.n_rows >= rows:
                    return
        except Exception:  # noqa: BLE001 - not created yet
            pass
