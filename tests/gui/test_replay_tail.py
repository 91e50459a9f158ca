"""Replay of a file still being written (issue 8): a failed tail refresh never escapes
``poll_tail``; it is one line in the status bar, shown once, and following recovers or
stops cleanly."""
from __future__ import annotations

from nlviz.qt.replay.tail import TAIL_MAX_FAILURES
from tests.gui.test_replay import N_LEVELS, write_run
from tests.support.synthetic import synthetic_batch, synthetic_spec

STALE = "index 12 is out of bounds for axis 0 with size 12"


def _growing(replay, tmp_path):
    window, rc = replay
    w = write_run(tmp_path / "growing.h5", rows=1000, close=False)
    w.flush()
    assert rc.open(tmp_path / "growing.h5") and rc.tail.timer.isActive()
    return window, rc, w


def _messages(window, monkeypatch):
    shown: list[tuple[str, bool]] = []
    original = window.status.show_message

    def spy(text: str, error: bool = False) -> None:
        shown.append((text, error))
        original(text, error)
    monkeypatch.setattr(window.status, "show_message", spy)
    return shown


def test_a_failing_tail_refresh_is_one_line_once_and_following_recovers(replay, tmp_path,
                                                                         monkeypatch):
    window, rc, w = _growing(replay, tmp_path)
    try:
        shown = _messages(window, monkeypatch)
        real_refresh = rc.src.refresh

        def stale() -> None:
            raise IndexError(STALE)
        monkeypatch.setattr(rc.src, "refresh", stale)
        for _ in range(3):
            assert rc.tail.poll() == 1000                    # no exception, rows kept
        assert shown == [(f"cannot read the newest rows of growing.h5 yet (retrying): "
                          f"{STALE}", True)]
        assert window.status.message.text() == shown[0][0] and rc.tail.timer.isActive()
        assert rc.player.cursor == 999
        monkeypatch.setattr(rc.src, "refresh", real_refresh)
        w.append(synthetic_batch(synthetic_spec(N_LEVELS), 1000, 500, sparse_every=64,
                                 state_every=0))
        w.flush()
        assert rc.tail.poll() == 1500
        assert shown[1:] == [("following growing.h5: 1,500 steps", False)]
        assert rc.player.cursor == 1499 and rc.frame.view.step[-1] == 1499
        assert rc.tail.timer.isActive()
    finally:
        w.close()


def test_following_stops_cleanly_after_repeated_failures(replay, tmp_path, monkeypatch):
    window, rc, w = _growing(replay, tmp_path)
    try:
        shown = _messages(window, monkeypatch)

        def broken_redraw(sparse: bool = True) -> None:
            raise KeyError("snapshots/weights")
        w.append(synthetic_batch(synthetic_spec(N_LEVELS), 1000, 100, sparse_every=64,
                                 state_every=0))
        w.flush()
        monkeypatch.setattr(rc, "redraw", broken_redraw)
        for _ in range(TAIL_MAX_FAILURES + 5):
            rc.tail.poll()
        assert not rc.tail.timer.isActive()
        assert [e for _, e in shown] == [True, True]
        assert shown[-1][0] == (f"stopped following growing.h5 after {TAIL_MAX_FAILURES} "
                                "failed reads of its newest rows: snapshots/weights")   # a KeyError, unquoted
        assert rc.player.n == 1100                          # the rows read so far stay
    finally:
        w.close()
