"""HDF5 run recordings: ``Recorder`` writes, ``Recording`` reads. Qt-free."""
from __future__ import annotations

from nlviz.recording.reader import Recording, RecordingError, Window
from nlviz.recording.writer import Recorder, RecorderError, RecorderStats

__all__ = ["Recorder", "RecorderError", "RecorderStats", "Recording", "RecordingError", "Window"]
