"""Before Qt starts: can its platform plugin load, and is there a display to show on?

Without the X11 libraries the xcb plugin needs, or without a display, Qt aborts the
process with "could not load the Qt platform plugin" and a core dump. This module asks
the same questions first, without importing Qt (standard library only), and turns the
answer into one line that names what is missing and how to get it. Linux only: the
macOS and Windows plugins need nothing outside the PySide6 wheel.

The library lists come from ``readelf -d`` on PySide6's ``libQt6Gui.so.6`` (every
platform) and ``plugins/platforms/libqxcb.so`` + ``libQt6XcbQpa.so.6`` (X11), keeping the
libraries the wheel does not bundle; the package names are Debian's and Ubuntu's.
"""
from __future__ import annotations

import ctypes
import importlib.util
import os
import platform
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from nlviz.errors import UserError

#: what QtGui links against, whatever the platform plugin (soname -> Debian package)
GUI_LIBS: dict[str, str] = {
    "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libX11.so.6": "libx11-6",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libdbus-1.so.3": "libdbus-1-3",
}

#: what the xcb (X11) platform plugin adds
XCB_LIBS: dict[str, str] = {
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
}

PACKAGES = {**GUI_LIBS, **XCB_LIBS}

NO_DISPLAY = ("no display: set DISPLAY, run under xvfb-run -a, or use "
              "QT_QPA_PLATFORM=offscreen with --screenshot")

SKIP_ENV = "NLVIZ_NO_PREFLIGHT"  # set to 1 to let Qt try anyway


def qt_platforms(env: Mapping[str, str]) -> list[str]:
    """The platform plugins Qt will try, in order (``QT_QPA_PLATFORM`` or Qt's default)."""
    raw = env.get("QT_QPA_PLATFORM", "").strip()
    if raw:
        names = [part.split(":", 1)[0].strip().lower() for part in raw.split(";")]
        return [n for n in names if n]
    if env.get("XDG_SESSION_TYPE", "").lower() == "wayland" and env.get("WAYLAND_DISPLAY"):
        return ["wayland", "xcb"]
    return ["xcb"]


def _display_var(plugin: str) -> str | None:
    """The environment variable a plugin needs to reach its display, None for none."""
    if plugin == "xcb":
        return "DISPLAY"
    if plugin.startswith("wayland"):
        return "WAYLAND_DISPLAY"
    return None  # offscreen, minimal, vnc, eglfs, linuxfb, ...


def chosen_platform(env: Mapping[str, str]) -> str | None:
    """The first plugin Qt can reach a display with, or None when none can."""
    for plugin in qt_platforms(env):
        var = _display_var(plugin)
        if var is None or env.get(var):
            return plugin
    return None


def _qt_lib_dir() -> Path | None:
    """PySide6's bundled Qt/lib folder, found without importing PySide6."""
    try:
        spec = importlib.util.find_spec("PySide6")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)), "Qt", "lib")


def _load(soname: str) -> None:
    ctypes.CDLL(soname)


def missing_libraries(sonames: Iterable[str], load: Callable[[str], None] = _load,
                      bundled: Path | None = None) -> list[str]:
    """The libraries among ``sonames`` the dynamic loader cannot load, in order.

    A library that is there but needs another that is not (the loader's message names
    it) counts that other one as missing. One bundled in PySide6's Qt/lib counts as there.
    """
    bundled = _qt_lib_dir() if bundled is None else bundled
    missing: list[str] = []
    for soname in sonames:
        if bundled is not None and (bundled / soname).exists():
            continue
        try:
            load(soname)
        except OSError as exc:
            named = str(exc).split(":", 1)[0].strip()
            culprit = named if named.startswith("lib") and ".so" in named else soname
            if culprit not in missing:
                missing.append(culprit)
    return missing


def check(env: Mapping[str, str], system: str,
          find_missing: Callable[[list[str]], list[str]] = missing_libraries) -> str | None:
    """The one-line problem that would make Qt abort at start-up, or None."""
    if system != "Linux" or env.get(SKIP_ENV) == "1":
        return None
    plugin = chosen_platform(env)
    xcb = plugin == "xcb" or (plugin is None and "xcb" in qt_platforms(env))
    needed = list(GUI_LIBS) + (list(XCB_LIBS) if xcb else [])
    missing = find_missing(needed)
    if missing:
        what = "the Qt platform plugin xcb" if xcb else "Qt"
        packages = list(dict.fromkeys(PACKAGES.get(m, m) for m in missing))
        return (f"{what} cannot load: missing {', '.join(missing)}; install with: "
                f"sudo apt-get install {' '.join(packages)}")
    if plugin is None:
        return NO_DISPLAY
    return None


def check_qt_platform(env: Mapping[str, str] | None = None, system: str | None = None) -> None:
    """Raise :class:`UserError` with one line when Qt could not start here (see module)."""
    problem = check(os.environ if env is None else env,
                    platform.system() if system is None else system)
    if problem is not None:
        raise UserError(problem)
