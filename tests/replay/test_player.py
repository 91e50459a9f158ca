"""The replay clock: snapping, stepping, speed, loop modes, playback modes, tail."""
from __future__ import annotations

import numpy as np
import pytest

from nlviz.replay.player import LoopMode, Player, PlayMode, native_rate

STEPS = np.arange(0, 1000, dtype=np.int64)          # rows 0..999, step = row
WALL = STEPS * 0.01                                 # 100 steps/s natively


def player(**kw) -> Player:
    return Player(STEPS, WALL, **kw)


def test_native_rate_from_wall_time_ignores_long_pauses():
    assert native_rate(STEPS, WALL) == pytest.approx(100.0)
    wall = WALL.copy()
    wall[500:] += 3600.0                            # an hour-long pause counts as 1 s
    assert native_rate(STEPS, wall) == pytest.approx(999 / (9.98 + 1.0))
    # batched wall times (one value per engine batch of 10 steps) give the same rate
    assert native_rate(STEPS, (STEPS // 10) * 0.1) == pytest.approx(999 / 9.9)
    assert native_rate(STEPS[:1], WALL[:1]) == 1000.0


def test_seek_snaps_to_recorded_steps():
    p = Player(np.array([0, 10, 20, 40], np.int64))
    assert p.seek(14) == 10 and p.row == 1
    assert p.seek(15) == 10          # tie -> the earlier
    assert p.seek(16) == 20
    assert p.seek(31) == 40 and p.seek(10**9) == 40 and p.seek(-5) == 0
    assert p.snap(29) == 20 and p.cursor == 0


def test_step_by_one_and_by_n_and_home_end():
    p = player(big_step=100)
    p.seek(500)
    assert p.step_forward() == 501
    assert p.step_back() == 500
    assert p.step_forward(big=True) == 600
    assert p.step_back(big=True) == 500
    assert p.step_forward(7) == 507
    assert p.end() == 999 and p.step_forward() == 999
    assert p.home() == 0 and p.step_back() == 0


def test_speed_is_clamped():
    p = player()
    assert p.set_speed(0.01) == 0.1 and p.set_speed(50) == 10.0 and p.set_speed(2) == 2.0


@pytest.mark.parametrize("speed", [0.1, 0.5, 1.0, 2.0, 10.0])
def test_real_time_advances_by_native_rate_times_speed(speed):
    p = player()
    p.set_speed(speed)
    p.play()
    for _ in range(100):             # 100 ticks of 1/30 s = 3.333 s
        p.advance(1 / 30)
    assert p.cursor == min(999, int(100 * speed * 100 / 30 + 1e-9))
    assert p.playing == (speed < 2.5)              # 10x hits the end and stops (loop off)


def test_every_step_moves_exactly_one_row_per_tick_interval():
    p = player(step_rate=30)
    p.set_mode(PlayMode.EVERY_STEP)
    p.set_speed(2.0)
    p.play()
    dt = p.tick_interval()
    assert dt == pytest.approx(1 / 60)
    seen = [p.advance(dt) for _ in range(120)]
    assert seen == list(range(1, 121))        # never skips, never repeats
    assert p.tick() == 121


def test_max_mode_sweeps_at_max_rate_and_stops_at_end_without_loop():
    p = player(max_rate=100_000)
    p.set_mode("max")
    p.play()
    assert p.advance(0.005) == 500
    assert p.advance(1.0) == 999 and not p.playing   # loop off: stops at the end
    p.play()                                          # play at the end restarts
    assert p.cursor == 0 and p.playing


def test_loop_all_wraps_and_large_jumps_are_modular():
    p = player(max_rate=1000)
    p.set_mode(PlayMode.MAX)
    p.set_loop(LoopMode.ALL)
    p.seek(990)
    p.play()
    assert p.advance(0.015) == 5        # 990 + 15 -> wraps to row 5
    assert p.advance(2.5) == 505        # 2500 rows later, modulo 1000
    assert p.playing


def test_loop_selection_stays_inside_and_starts_inside():
    p = player(max_rate=100)
    p.set_mode(PlayMode.MAX)
    with pytest.raises(ValueError):
        p.set_loop("selection")
    p.set_loop(LoopMode.SELECTION, (300, 309))
    p.play()
    assert p.cursor == 300               # play jumps into the selection
    visited = {p.advance(0.01) for _ in range(40)}
    assert visited == set(range(300, 310))
    assert p.home() == 300 and p.end() == 309


def test_paused_clock_does_not_move_and_steps_with_gaps_are_rows():
    p = Player(np.array([0, 5, 100, 101, 5000], np.int64), max_rate=1)
    p.set_mode("max")
    assert p.advance(10) == 0
    p.play()
    assert [p.advance(1.0) for _ in range(4)] == [5, 100, 101, 5000]


def test_tail_mode_refreshes_and_follows_the_end():
    grown = {"n": 100}

    def refresh():
        s = np.arange(grown["n"], dtype=np.int64)
        return s, s * 0.01

    p = Player(np.arange(100, dtype=np.int64), np.arange(100) * 0.01, refresh=refresh,
               max_rate=1000)
    p.tail = True
    p.tail_poll_s = 0.5
    p.set_mode("max")
    p.end()
    p.play()
    grown["n"] = 250
    assert p.advance(0.1) == 99 and p.playing      # at the end, waiting; no poll yet
    p.advance(0.4)                                  # 0.5 s of clock: polls
    assert p.n == 250 and p.cursor == 249           # followed the end
    p.seek(10)
    grown["n"] = 300
    p.refresh()
    assert p.n == 300 and p.cursor == 10            # not at the end: keeps its place


def test_from_recording_uses_file_steps_and_wall_time(synth_run):
    from nlviz.recording.reader import Recording
    with Recording.open(synth_run) as rec:
        p = Player.from_recording(rec)
        assert p.n == 50_000 and not p.tail
        assert p.native_rate == pytest.approx(1000.0)   # synthetic: 1 ms per step
        assert p.seek(12_345) == 12_345
