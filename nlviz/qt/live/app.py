"""The live front's app: ``build`` makes the live window and its controller from the
command line, ``launch`` starts them as a newcomer meets them (paused; ``--play`` plays,
``--steps N`` runs N steps; keyboard focus on the plots)."""
from __future__ import annotations

import argparse

from PySide6.QtWidgets import QApplication

from engine.config import ConfigError
from nlviz.config_loader import load_config
from nlviz.errors import UserError
from nlviz.qt.live.controller import Controller
from nlviz.qt.live.front import LiveFront, live_window
from nlviz.qt.main_window import MainWindow
from nlviz.qt.quitting import Quitter
from nlviz.qt.theme import theme_for


def build(args: argparse.Namespace) -> tuple[MainWindow[LiveFront], Controller]:
    """Window and controller for ``args`` (a QApplication must exist).

    The preset is the command line's (``--preset``, else ``default``), never a remembered
    one: the same command runs the same thing on every launch (the README's plain
    command, scripts, bug reports). Only the window layout is remembered; a preset picked
    in the GUI is one click away in the Config panel."""
    preset = args.preset or "default"
    config = load_config(preset, args.overrides, args.stream, args.device, args.seed,
                         getattr(args, "model", None))
    try:
        config = config.validate()              # the engine process builds the session
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    window = live_window()
    window.metrics.set_raster_color(theme_for(args.light).foreground)
    controller = Controller(window, config, preset=preset)
    return window, controller


def launch(app: QApplication, window: MainWindow[LiveFront], controller: Controller,
           args: argparse.Namespace) -> Quitter:
    """Start the engine and show the window as a newcomer meets it: paused (``--play``
    plays, ``--steps N`` runs N steps), keyboard focus on the plots (Space plays), File >
    Quit wired to end the app. Returns the ``Quitter`` (also used for Ctrl-C)."""
    quitter = Quitter(app)
    window.quitRequested.connect(quitter.quit)
    controller.start()
    if args.record:
        controller.record(args.record, overwrite=args.overwrite)
        window.front.controls.set_recording(True, args.record)
    window.show()
    window.focus_plots()                       # Space plays / pauses from the first frame
    if args.steps > 0:
        controller.step(args.steps)
    elif getattr(args, "play", False):
        controller.play()
    return quitter


__all__ = ["build", "launch"]
