"""``nlviz train``: the outer loop's command line, configs, checkpoints and recording.

Qt-free; the loop itself is ``engine.outer``.
"""
