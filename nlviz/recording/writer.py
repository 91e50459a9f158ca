"""``Recorder``: owns one HDF5 recording on its own thread behind a bounded queue.

Lossless: ``append`` blocks while the queue is full (the time spent waiting is the
back-pressure shown by ``stats``). The writer thread coalesces queued batches, writes
each dataset with one resize and one slice write, flushes at least every
``flush_interval`` seconds (the first rows at once) and on ``flush()``, and then publishes
``/status/rows_committed``. ``close()`` drains, flushes and sets ``clean_close = 1``.
"""
from __future__ import annotations

import os
import queue
import sys
import threading
import time
from typing import Any

import h5py
import numpy as np

from engine.frames import FrameBatch, RunSpec, SnapshotRecord
from nlviz.errors import UserError, one_line
from nlviz.recording import failure as F
from nlviz.recording import layout as L
from nlviz.recording import modelid
from nlviz.recording.filewriter import BatchAppender, create_layout, seal_header
from nlviz.recording.outlock import OutputLock
from nlviz.recording.stats import RecorderStats
from nlviz.recording.superblock import clamp_eof

_STOP = object()
_WRITE_DELAY = 0.5  # s: fewer, larger writes (one resize + slice write per dataset)
_COALESCE_ROWS = 8192


def _loaded_torch_version() -> str:
    """``torch.__version__`` if the process has imported torch (a session exists), without
    importing it here."""
    torch = sys.modules.get("torch")
    return str(getattr(torch, "__version__", "unknown"))


class RecorderError(RuntimeError):
    """The writer thread failed; rows flushed before the failure stay in the file."""


class Recorder:
    """Record a run to ``path`` (a new file; an existing one only with ``overwrite``).

    One writer per file: the file is locked (``outlock.OutputLock``) from before it is
    truncated until the writer thread has closed it. A write failure (disk full, I/O
    error) stops the recording at once: nothing more is written, the file keeps the
    rows of the last commit, and ``append``/``close`` raise ``RecorderError`` with one
    line saying which steps the file holds.

    Parameters
    ----------
    path : output ``.h5`` file.
    spec : the session's ``RunSpec`` (fixed for the whole recording).
    config_dict : the resolved config (``Config.to_dict()``), stored as JSON.
    device : compute device name, stored as an attribute.
    stream : stream description at start.
    state_template : ``Session.state_dict()`` at start; fixes the names, shapes and dtypes
        of the engine-state tensors (states are not recorded when None).
    queue_size : batches that may wait for the writer before ``append`` blocks.
    flush_interval : seconds between flushes while data arrives.
    parent : ``(parent_run, parent_step)`` for a run branched from a recording ("continue
        live from here"): stored as the root attributes ``parent_run`` (file name) and
        ``parent_step``; None for an ordinary run.
    overwrite : replace an existing file (refused otherwise).
    device_requested : the device the user asked for (``run.device``), stored next to the
        device actually used.
    device_reason : why that device (``Session.device_reason``, e.g. what ``auto``
        measured), stored as the root attribute ``device_reason``; None: not stored.
    torch_version : the engine's torch version (``Session.torch_version``), stored as the
        root attribute ``torch_version``; None: that of a torch this process has already
        loaded, else "unknown" (this package never imports torch itself).
    model : the model the run used (``engine.checkpoint.model_identity``: name, sha256,
        metadata), stored as the root attribute ``model_json``; None: a random start.

    Raises
    ------
    nlviz.errors.UserError : the file cannot be created, exists (``OutputExists``) or is
        being written by another process (``OutputBusy``), or ``model`` is not a model
        identity.
    """

    def __init__(self, path: str | os.PathLike[str], spec: RunSpec, config_dict: dict[str, Any], *,
                 device: str, stream: str, state_template: dict[str, np.ndarray] | None = None,
                 queue_size: int = 64, flush_interval: float = 1.0,
                 parent: tuple[str, int] | None = None, overwrite: bool = False,
                 device_requested: str | None = None, torch_version: str | None = None,
                 model: dict[str, Any] | None = None, device_reason: str | None = None) -> None:
        self.path = str(path)
        try:
            model_text = modelid.to_json(model)
        except ValueError as exc:                        # before the file is touched
            raise UserError(f"{self.path}: {exc}") from None
        self.spec = spec
        self.flush_interval = float(flush_interval)
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(1, queue_size))
        self._error: BaseException | None = None
        self._closed = False
        self._blocked = 0.0
        self._rows = 0
        self._last_step_in = -1            # last step handed to ``append`` (for messages)
        self._last_flush = time.monotonic()
        self._lock = threading.Lock()
        from nlviz import __version__
        self._claim = OutputLock.claim(self.path, overwrite=overwrite)   # before any truncation
        try:
            self._file = h5py.File(self.path, "w", libver="latest")
        except OSError as exc:
            self._claim.release(discard=True)
            raise UserError(f"{self.path}: cannot create recording: {F.reason(exc)}") from None
        except BaseException:
            self._claim.release(discard=True)
            raise
        try:
            kept = create_layout(self._file, spec, config_dict, device=device, stream=stream,
                                 state_template=state_template, nlviz_version=__version__,
                                 torch_version=torch_version or _loaded_torch_version(),
                                 device_requested=device_requested)
            self._file.attrs[L.A_MODEL_JSON] = model_text
            if device_reason is not None:
                self._file.attrs[L.A_DEVICE_REASON] = str(device_reason)
            if parent is not None:
                self._file.attrs[L.A_PARENT_RUN] = str(parent[0])
                self._file.attrs[L.A_PARENT_STEP] = np.int64(parent[1])
            seal_header(self._file)        # after the last root attribute is written
            self._appender = BatchAppender(self._file, spec)
            self._file.flush()
            self._file.swmr_mode = True
            del kept
        except (OSError, RuntimeError) as exc:
            F.close_abandoned(self._file)
            self._claim.release(discard=True)
            raise UserError(f"{self.path}: cannot create recording: {F.reason(exc)}") from None
        except BaseException:
            F.close_abandoned(self._file)
            self._claim.release(discard=True)
            raise
        self._thread = threading.Thread(target=self._run, name="nlviz-recorder", daemon=True)
        self._thread.start()

    # ---- producer side ------------------------------------------------------------------
    def append(self, batch: FrameBatch) -> None:
        """Queue a batch for writing; blocks while the queue is full (never drops).

        Raises
        ------
        RecorderError : the writer thread failed earlier (or the recorder is closed).
        """
        self._raise_if_failed()
        if self._closed:
            raise RecorderError(f"{self.path}: recorder is closed")
        if len(batch):
            self._last_step_in = max(self._last_step_in, int(batch.step[-1]))
        if batch.snapshots:  # guard against engine views mutated by later steps
            batch.snapshots = [SnapshotRecord(r.step, tuple(np.array(w) for w in r.weights),
                                              tuple(np.array(u) for u in r.updates))
                               for r in batch.snapshots]
        try:
            self._queue.put_nowait(batch)
        except queue.Full:
            t0 = time.perf_counter()
            while True:
                try:
                    self._queue.put(batch, timeout=0.25)
                    break
                except queue.Full:
                    self._raise_if_failed()
            with self._lock:
                self._blocked += time.perf_counter() - t0

    def flush(self, timeout: float | None = None) -> None:
        """Write and flush everything queued so far (call on pause / stream switch)."""
        self._raise_if_failed()
        if self._closed:
            return
        done = threading.Event()
        self._queue.put(done)
        while not done.wait(0.25):
            self._raise_if_failed()
            if not self._thread.is_alive():
                break
        self._raise_if_failed()

    def close(self) -> None:
        """Drain the queue, flush, set ``clean_close = 1`` and close the file. Idempotent.

        Raises
        ------
        RecorderError : the writer thread failed (rows flushed before it stay readable).
        """
        if not self._closed:
            self._closed = True
            self._queue.put(_STOP)
            self._thread.join()
        self._raise_if_failed()

    def stats(self) -> RecorderStats:
        """Current progress; cheap, callable from any thread (e.g. a GUI timer)."""
        try:
            size = os.path.getsize(self.path)
        except OSError:
            size = 0
        with self._lock:
            return RecorderStats(self.path, self._rows, size,
                                 self._queue.qsize() / self._queue.maxsize, self._blocked,
                                 time.monotonic() - self._last_flush)

    @property
    def failed(self) -> bool:
        """True once the writer thread has failed."""
        return self._error is not None

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise RecorderError(self._failure_message()) from self._error

    def _failure_message(self) -> str:
        """One line: what went wrong, after which step, and which steps the file keeps."""
        exc, a = self._error, self._appender
        after = (f"after step {self._last_step_in}" if self._last_step_in >= 0
                 else "before the first step")
        held = (f"the recording holds steps {a.first_step}..{a.committed_last_step}"
                if a.committed_rows and a.first_step is not None
                else "the recording holds no steps")
        if isinstance(exc, F.Vanished):
            return f"{self.path}: the file was deleted or replaced while recording ({after}); " \
                   "the steps written to it are lost"
        code = F.errno_of(exc)
        if code in F.DISK_FULL:
            return f"{self.path}: disk full {after}; {held}"
        if code is not None:
            return f"{self.path}: write failed {after} ({os.strerror(code)}); {held}"
        return f"{self.path}: recording failed {after}: {one_line(exc or 'unknown')}; {held}"

    # ---- writer thread --------------------------------------------------------------------
    def _run(self) -> None:
        pending: list[FrameBatch] = []
        rows = 0                          # rows in pending
        waiters: list[threading.Event] = []
        stop = False
        write_by = None                   # batches wait up to _WRITE_DELAY to be coalesced
        try:
            while not stop:
                now = time.monotonic()
                timeout = self.flush_interval - (now - self._last_flush)
                if write_by is not None:
                    timeout = min(timeout, write_by - now)
                try:
                    item = self._queue.get(timeout=max(0.005, timeout))
                except queue.Empty:
                    item = None
                while item is not None:
                    if item is _STOP:
                        stop = True
                    elif isinstance(item, threading.Event):
                        waiters.append(item)
                    else:
                        pending.append(item)
                        rows += len(item)
                        if write_by is None:
                            write_by = time.monotonic() + _WRITE_DELAY
                    if stop or rows >= _COALESCE_ROWS:
                        break
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        item = None
                now = time.monotonic()
                due = now - self._last_flush >= self.flush_interval or \
                    (rows > 0 and self._appender.committed_rows == 0)   # first rows: at once
                ripe = rows >= _COALESCE_ROWS or now >= (write_by or now)
                if pending and (stop or waiters or due or ripe):
                    self._appender.append(FrameBatch.concat(pending))
                    pending, rows, write_by = [], 0, None
                if waiters or stop or due:
                    self._commit()
                    for w in waiters:
                        w.set()
                    waiters = []
            self._appender.mark_clean_close()
        except BaseException as exc:  # noqa: BLE001 - surfaced on the next append/close
            if isinstance(exc, (OSError, RuntimeError)):   # I/O failed: write nothing more
                F.close_abandoned(self._file)
                if not self._claim.vanished():
                    try:
                        clamp_eof(self.path)    # a half-done flush may claim unwritten bytes
                    except OSError:
                        pass
            self._error = exc
            self._finish_file()
            for w in waiters:
                w.set()
            self._drain_after_failure(stop)
        finally:
            self._finish_file()

    def _finish_file(self) -> None:
        try:
            self._file.close()
        except Exception:  # noqa: BLE001
            pass
        self._claim.release()

    def _commit(self) -> None:
        if self._claim.vanished():
            raise F.Vanished(self.path)
        self._appender.commit()
        with self._lock:
            self._rows = self._appender.rows
            self._last_flush = time.monotonic()

    def _drain_after_failure(self, stopped: bool) -> None:
        """Keep already-flushed rows; unblock producers until ``close`` is called."""
        while not stopped:
            item = self._queue.get()
            if item is _STOP:
                stopped = True
            elif isinstance(item, threading.Event):
                item.set()
