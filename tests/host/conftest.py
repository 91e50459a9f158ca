"""Engine processes for the Qt-free host tests: started on the tiny preset, always stopped,
and none left behind."""
from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator

import pytest

from engine.config import Config
from nlviz.config_loader import load_config
from nlviz.host.process import DEFAULT_LOOP, EngineProcess
from nlviz.host.protocol import Ready, Source
from tests.host.driver import Driver

Start = Callable[..., Driver]


@pytest.fixture
def tiny() -> Config:
    """The tiny preset (CPU, seed 0)."""
    return load_config("tiny")


@pytest.fixture
def start_engine(tiny: Config) -> Iterator[Start]:
    """``start_engine(source=tiny, loop=DEFAULT_LOOP, ready=True)`` -> a ``Driver`` on a
    started engine process (after its ``Ready`` when ``ready``); stopped at the end."""
    engines: list[EngineProcess] = []

    def start(source: Source | None = None, loop: str = DEFAULT_LOOP,
              ready: bool = True) -> Driver:
        engine = EngineProcess(tiny if source is None else source, loop=loop)
        engines.append(engine)
        engine.start()
        driver = Driver(engine)
        if ready:
            driver.until(Ready)
        return driver

    yield start
    for engine in engines:
        if not engine.closed:
            engine.stop()


@pytest.fixture(autouse=True)
def no_leaked_engine_processes() -> Iterator[None]:
    """Fail a test that leaves an engine child process behind (stopped ones are joined)."""
    yield
    left = multiprocessing.active_children()
    for p in left:
        p.kill()
        p.join(2)
    assert not left, f"leaked child processes: {left}"
