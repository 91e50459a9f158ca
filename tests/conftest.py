"""Markers applied by place and by measurement, so that ``-m "not gui"`` and ``-m "not slow"``
select what they say.

* ``gui``: every test under tests/gui/ (they need Qt; tests/gui/conftest.py runs it offscreen).
* ``slow``: the tests listed in ``SLOW`` (measured with ``--durations``: three seconds or more
  on the shared 2-core machine, mostly child processes that import torch), and every GUI test
  that starts an engine process (through the ``gui``, ``worker`` or ``launched`` fixture).
  Tests in the files at the root of tests/ carry ``@pytest.mark.slow`` themselves.

``SLOW`` (tests/support/markers.py) holds ``file::function`` (every parametrisation of it);
tests/test_markers.py checks that each entry still names a test.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.markers import SLOW, TESTS, slow_key

GUI_DIR = TESTS / "gui"
# fixtures that start an engine process (torch in a child): 5-20 s a test, measured
ENGINE_FIXTURES = {"gui", "worker", "launched"}


@pytest.hookimpl(tryfirst=True)      # before -m deselects anything
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(item.path).resolve()
        if GUI_DIR in path.parents:
            item.add_marker(pytest.mark.gui)
            if ENGINE_FIXTURES & set(getattr(item, "fixturenames", ())):
                item.add_marker(pytest.mark.slow)
        if path.is_relative_to(TESTS) and slow_key(item) in SLOW:
            item.add_marker(pytest.mark.slow)
