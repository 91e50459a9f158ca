"""``run.threads``: auto (0) picks one thread at every width (two threads collapse beside a
busy process, bench/threads.py); an explicit count is what torch runs at, also after a
model replacement."""
from __future__ import annotations

import pytest
import torch

from engine.config import Config
from engine.session import AUTO_THREADS, Session, thread_count


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _config(d: int, titans_hidden: int, cms_hidden: int, threads: int = 0,
            periods: tuple[int, ...] = (4, 16, 64)) -> Config:
    return Config.from_dict({
        "model": {"d": d, "titans": {"hidden": titans_hidden},
                  "cms": {"hidden": cms_hidden, "periods": list(periods)}},
        "run": {"threads": threads, "device": "cpu"}})


@pytest.mark.parametrize("d,th,ch,periods", [
    (32, 32, 64, (4, 16, 64)),          # the default preset: 2,048
    (256, 256, 256, (4,)),              # d x hidden = 65,536 (the old rule's edge)
    (256, 256, 512, (4, 16, 64)),       # 131,072: the old rule picked torch's default here
    (256, 1024, 64, ()),                # one Titans memory as in bench/engine.py: 262,144
    (1024, 4096, 4096, (4,)),           # 4M per matrix
])
def test_auto_is_one_thread_at_every_width(d, th, ch, periods):
    assert AUTO_THREADS == 1
    assert thread_count(_config(d, th, ch, 0, periods)) == 1


@pytest.mark.parametrize("n", [1, 2, 3, 7])
def test_explicit_count_is_respected_at_any_width(n):
    assert thread_count(_config(32, 32, 64, n)) == n
    assert thread_count(_config(256, 1024, 512, n)) == n


def test_session_applies_the_count_to_torch(restore_threads):
    torch.set_num_threads(4)
    Session(_config(32, 32, 64, 0))
    assert torch.get_num_threads() == 1
    Session(_config(256, 256, 512, 0))              # wide: still one thread
    assert torch.get_num_threads() == 1
    Session(_config(32, 32, 64, 3))
    assert torch.get_num_threads() == 3


def test_model_replacement_reapplies_the_count(restore_threads):
    session = Session(_config(32, 32, 64, 2))
    assert torch.get_num_threads() == 2
    torch.set_num_threads(5)                        # someone else changed it meanwhile
    session.rebuild(_config(32, 32, 64, 0))
    assert torch.get_num_threads() == 1
