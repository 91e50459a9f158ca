"""Opening recordings for the app: one-line messages instead of tracebacks. No Qt."""
from __future__ import annotations

import os

from nlviz.errors import one_line
from nlviz.recording.reader import Recording, RecordingError


def try_open(path: str | os.PathLike[str]) -> Recording | str:
    """Open a recording, or return a one-line message saying why it cannot be read.

    Every ``RecordingError`` class (missing file, not HDF5, not an nlviz recording,
    unsupported major version, missing dataset, ragged lengths, wrong dtype, damaged
    file) and any other I/O failure comes back as a string; never raises for a bad file.
    """
    try:
        return Recording.open(path)
    except RecordingError as exc:
        return one_line(exc)
    except Exception as exc:  # noqa: BLE001 - an unexpected h5py/OS failure, still one line
        return one_line(f"{os.fspath(path)}: cannot open: {type(exc).__name__}: {exc}")


def recording_note(rec: Recording) -> str | None:
    """The visible note for a recovered (incomplete or still growing) file, else None."""
    if rec.complete:
        return None
    last = int(rec.steps[-1]) if rec.n_rows else None
    held = f"{rec.n_rows:,} steps" + (f" (to step {last:,})" if last is not None else "")
    cut = rec.unwritten_note()
    return (f"{os.path.basename(rec.path)} was not closed cleanly (crashed or still being "
            f"written): showing the {held} it holds" + (f"; {cut}" if cut else ""))


__all__ = ["recording_note", "try_open"]
