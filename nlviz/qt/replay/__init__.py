"""Replay, compare and export recorded runs in the app (issue 5, GUI part).

The Qt-free data layer lives in ``nlviz.replay``; this package wires it into the same
panel classes the live window uses.
"""
