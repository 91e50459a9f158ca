"""nlviz/preflight.py: one line instead of Qt's abort when the platform plugin cannot start."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nlviz import preflight as pf
from nlviz.errors import UserError

ROOT = Path(__file__).resolve().parent.parent
X11 = {"DISPLAY": ":0"}


class Finder:
    """A fake library finder: reports ``missing`` among what it is asked, remembers what."""

    def __init__(self, *missing: str) -> None:
        self.missing = missing
        self.asked: list[str] = []

    def __call__(self, sonames: list[str]) -> list[str]:
        self.asked.extend(sonames)
        return [s for s in sonames if s in self.missing]


def test_missing_xcb_libraries_are_named_with_the_apt_get_line() -> None:
    find = Finder("libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-cursor.so.0")
    assert pf.check(X11, "Linux", find) == (
        "the Qt platform plugin xcb cannot load: missing libxcb-cursor.so.0, "
        "libxcb-icccm.so.4, libxcb-keysyms.so.1; install with: sudo apt-get install "
        "libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1")


def test_x11_with_every_library_passes_after_asking_for_all_of_them() -> None:
    find = Finder()
    assert pf.check(X11, "Linux", find) is None
    assert find.asked == list(pf.GUI_LIBS) + list(pf.XCB_LIBS)
    assert {"libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-cursor.so.0",
            "libxkbcommon-x11.so.0"} <= set(find.asked)


def test_one_package_is_named_once() -> None:
    msg = pf.check(X11, "Linux", Finder("libglib-2.0.so.0", "libgthread-2.0.so.0"))
    assert msg is not None and msg.endswith("install with: sudo apt-get install libglib2.0-0")


@pytest.mark.parametrize("env", [{}, {"QT_QPA_PLATFORM": "xcb"},
                                 {"QT_QPA_PLATFORM": "wayland"},
                                 {"WAYLAND_DISPLAY": "", "DISPLAY": ""}])
def test_no_display_is_one_clear_line(env: dict[str, str]) -> None:
    assert pf.check(env, "Linux", Finder()) == (
        "no display: set DISPLAY, run under xvfb-run -a, or use QT_QPA_PLATFORM=offscreen "
        "with --screenshot")


def test_missing_libraries_are_named_before_the_missing_display() -> None:
    msg = pf.check({}, "Linux", Finder("libxcb-icccm.so.4"))
    assert msg == ("the Qt platform plugin xcb cannot load: missing libxcb-icccm.so.4; "
                   "install with: sudo apt-get install libxcb-icccm4")


@pytest.mark.parametrize("platform", ["offscreen", "minimal", "vnc", "offscreen:fontengine=x"])
def test_offscreen_needs_no_display_and_no_x11_plugin_libraries(platform: str) -> None:
    find = Finder("libxcb-icccm.so.4")
    assert pf.check({"QT_QPA_PLATFORM": platform}, "Linux", find) is None
    assert find.asked == list(pf.GUI_LIBS)


def test_offscreen_still_needs_the_gui_libraries() -> None:
    msg = pf.check({"QT_QPA_PLATFORM": "offscreen"}, "Linux", Finder("libEGL.so.1"))
    assert msg == "Qt cannot load: missing libEGL.so.1; install with: sudo apt-get install libegl1"


def test_a_wayland_session_does_not_need_the_x11_plugin() -> None:
    env = {"XDG_SESSION_TYPE": "wayland", "WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"}
    find = Finder("libxcb-icccm.so.4")
    assert pf.qt_platforms(env) == ["wayland", "xcb"]
    assert pf.check(env, "Linux", find) is None
    assert "libxcb-icccm.so.4" not in find.asked


def test_platform_list_falls_back_to_the_first_with_a_display() -> None:
    assert pf.chosen_platform({"QT_QPA_PLATFORM": "wayland;xcb", "DISPLAY": ":1"}) == "xcb"
    assert pf.chosen_platform({"QT_QPA_PLATFORM": "wayland;xcb"}) is None
    assert pf.chosen_platform({"QT_QPA_PLATFORM": "XCB", "DISPLAY": ":1"}) == "xcb"


@pytest.mark.parametrize("system", ["Darwin", "Windows"])
def test_other_systems_are_not_checked(system: str) -> None:
    find = Finder("libxcb-icccm.so.4")
    assert pf.check({}, system, find) is None and find.asked == []


def test_the_escape_hatch_skips_the_check() -> None:
    assert pf.check({pf.SKIP_ENV: "1"}, "Linux", Finder("libxcb-icccm.so.4")) is None


def test_finder_names_a_missing_dependency_of_a_present_library(tmp_path: Path) -> None:
    def load(soname: str) -> None:
        if soname == "libxcb-image.so.0":
            raise OSError("libxcb-util.so.1: cannot open shared object file: No such file")
        if soname in ("libxcb-util.so.1", "libnope.so.3"):
            raise OSError(f"{soname}: cannot open shared object file: No such file")
    names = ["libxcb-image.so.0", "libxcb-util.so.1", "libc.so.6", "libnope.so.3"]
    assert pf.missing_libraries(names, load, tmp_path) == ["libxcb-util.so.1", "libnope.so.3"]


def test_finder_counts_a_library_bundled_with_pyside6(tmp_path: Path) -> None:
    (tmp_path / "libxcb-cursor.so.0").write_bytes(b"")

    def load(soname: str) -> None:
        raise OSError(f"{soname}: cannot open shared object file")
    assert pf.missing_libraries(["libxcb-cursor.so.0", "libx.so.1"], load, tmp_path) == [
        "libx.so.1"]


@pytest.mark.skipif(sys.platform != "linux", reason="the dynamic loader's names are Linux's")
def test_finder_with_the_real_loader(tmp_path: Path) -> None:
    assert pf.missing_libraries(["libc.so.6", "libnlviz-absent.so.7"], bundled=tmp_path) == [
        "libnlviz-absent.so.7"]


def test_check_qt_platform_raises_the_user_error() -> None:
    with pytest.raises(UserError, match=r"^no display: set DISPLAY"):
        pf.check_qt_platform(env={}, system="Linux")
    pf.check_qt_platform(env={}, system="Darwin")


def _no_display_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM", pf.SKIP_ENV)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


@pytest.mark.skipif(sys.platform != "linux", reason="the display check is Linux's")
def test_app_without_a_display_exits_2_with_one_line() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "main.py"), "--preset", "tiny"],
                         env=_no_display_env(), cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert (out.returncode, out.stdout) == (2, "")
    assert out.stderr == ("nlviz: error: no display: set DISPLAY, run under xvfb-run -a, or use "
                          "QT_QPA_PLATFORM=offscreen with --screenshot\n")


@pytest.mark.skipif(sys.platform != "linux", reason="the display check is Linux's")
def test_headless_commands_need_no_display(tmp_path: Path) -> None:
    missing = tmp_path / "absent.h5"
    out = subprocess.run([sys.executable, str(ROOT / "main.py"), "info", str(missing)],
                         env=_no_display_env(), cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode != 0 and "display" not in out.stderr
    assert str(missing) in out.stderr


def test_readme_apt_line_installs_every_library_the_check_asks_for() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("sudo apt-get install", 1)[1].split("```", 1)[0]
    assert set(block.replace("\\", " ").split()) == set(pf.PACKAGES.values())
