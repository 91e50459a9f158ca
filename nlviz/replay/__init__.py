"""Replay, branch, compare and export recorded runs: the Qt-free data layer of issue 5.

Never imports Qt or pyqtgraph; the GUI wires these into its panels.
"""
from __future__ import annotations

from nlviz.replay.files import recording_note, try_open
from nlviz.replay.player import LoopMode, Player, PlayMode, ReplayClock
from nlviz.replay.source import ReplayFrame, ReplaySource, Summary

__all__ = ["LoopMode", "PlayMode", "Player", "ReplayClock", "ReplayFrame", "ReplaySource",
           "Summary", "recording_note", "try_open"]
