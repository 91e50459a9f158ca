"""The engine process's handle on the HDF5 recorder (Qt-free; used from the engine loop only).

Wraps ``nlviz.recording.writer.Recorder``: start/stop with a file name, append every
batch (blocking when the recorder's queue is full: that wait is the back-pressure),
and roll to a new segment file when a rebuild changes the level set (a recording
has one fixed ``RunSpec``).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.frames import FrameBatch
from nlviz.errors import one_line

if TYPE_CHECKING:                  # the engine (torch) is loaded by the child's loop
    from engine.session import Session
    from nlviz.recording.stats import RecorderStats
    from nlviz.recording.writer import Recorder


def state_template(session: Session) -> dict[str, np.ndarray] | None:
    """The state tensors a new recording of ``session`` can hold (names, shapes, dtypes),
    taken now; None between the steps of a Titans chunk (no state is defined there).

    Taken whatever ``run.state_every`` is, because that is a live parameter: a run that
    records no states now may be switched to recording them mid-file. Used by every
    recorder start (``nlviz record`` and the engine process), so their files agree.
    """
    try:
        return session.state_dict()
    except RuntimeError:                           # mid Titans chunk: no states
        return None


def open_recorder(path: str, session: Session, *, overwrite: bool = False,
                  parent: tuple[str, int] | None = None,
                  model: dict[str, Any] | None = None) -> Recorder:
    """A ``Recorder`` of ``session`` at ``path``: its spec, config, device, stream, state
    template and torch version, as every recording of a session is opened (``nlviz
    record`` and the engine process); ``model``: the model identity stored in the file
    (``engine.checkpoint.model_identity``; None: the session's own model)."""
    from nlviz.recording.writer import Recorder  # h5py only when recording
    return Recorder(path, session.spec, session.config.to_dict(),
                    device=session.device_name, stream=session.stream_description,
                    state_template=state_template(session), parent=parent,
                    overwrite=overwrite, device_requested=session.config.run.device,
                    torch_version=session.torch_version,
                    model=model if model is not None else session.model_identity,
                    device_reason=getattr(session, "device_reason", None))


def _segment_path(path: str, index: int) -> str:
    p = Path(path)
    return str(p.with_name(f"{p.stem}-seg{index}{p.suffix or '.h5'}"))


class RecordingLink:
    """Zero or one active recording."""

    def __init__(self, parent: tuple[str, int] | None = None) -> None:
        self.parent = parent           # (parent_run, parent_step) of a branched session
        self._recorder: Any = None
        self._base: str | None = None
        self._segment = 1
        self._overwrite = False
        self._spec: Any = None

    @property
    def active(self) -> bool:
        """True while a file is open."""
        return self._recorder is not None

    @property
    def path(self) -> str | None:
        """The file being written, if any."""
        return self._recorder.path if self._recorder is not None else None

    def start(self, path: str, session: Session, overwrite: bool = False) -> None:
        """Open ``path`` (closing any current file first); raises on failure.

        Raises
        ------
        nlviz.errors.UserError : one line; ``OutputExists`` when ``path`` exists and
            ``overwrite`` is False, ``OutputBusy`` when another process writes it.
        """
        self.stop()
        self._base, self._segment, self._overwrite = path, 1, overwrite
        self._open(path, session)

    def _open(self, path: str, session: Session) -> None:
        self._recorder = open_recorder(path, session, overwrite=self._overwrite,
                                       parent=self.parent)
        self._spec = session.spec

    def append(self, batch: FrameBatch) -> str | None:
        """Write a batch (blocks when the queue is full); returns an error message or None."""
        if self._recorder is None:
            return None
        try:
            self._recorder.append(batch)
        except Exception as exc:  # noqa: BLE001 - reported; the run goes on unrecorded
            msg = f"recording stopped: {one_line(exc)}"
            self._close_quietly()
            return msg
        return None

    def flush(self) -> None:
        """Flush what is queued (on pause); errors surface on the next append."""
        if self._recorder is not None:
            try:
                self._recorder.flush()
            except Exception:  # noqa: BLE001
                pass

    def stop(self) -> str:
        """Drain, flush and close; returns a one-line summary ('' if nothing was open)."""
        if self._recorder is None:
            return ""
        rec, self._recorder = self._recorder, None
        try:
            rec.close()
            st = rec.stats()
            return f"recording closed: {st.path} ({st.rows_committed} rows)"
        except Exception as exc:  # noqa: BLE001
            return f"recording closed with an error: {one_line(exc)}"

    def roll(self, session: Session) -> str:
        """After a rebuild: continue in a new segment file if the level set changed."""
        if self._recorder is None or session.spec == self._spec:
            return ""
        self.stop()
        self._segment += 1
        path = _segment_path(self._base or "run.h5", self._segment)
        try:
            self._open(path, session)
        except Exception as exc:  # noqa: BLE001
            return f"recording stopped (model rebuilt, cannot open {path}: {one_line(exc)})"
        return f"model rebuilt with other levels: recording continues in {path}"

    def stats(self) -> RecorderStats | None:
        """``RecorderStats`` of the open file, or None."""
        return self._recorder.stats() if self._recorder is not None else None

    def _close_quietly(self) -> None:
        rec, self._recorder = self._recorder, None
        try:
            rec.close()
        except Exception:  # noqa: BLE001
            pass
