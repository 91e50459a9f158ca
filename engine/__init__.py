"""HOPE engine: torch + numpy only. Never imports Qt, pyqtgraph, h5py or nlviz.

Light imports here (config, frames); the model lives in ``engine.model`` and the run
loop in ``engine.session``.
"""
from engine.config import Config, ConfigError
from engine.frames import FrameBatch, RunSpec

__all__ = ["Config", "ConfigError", "FrameBatch", "RunSpec"]
