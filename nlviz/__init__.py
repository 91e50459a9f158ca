"""nlviz: watch a HOPE (Nested Learning) model learn. Importing nlviz never imports Qt."""
__version__ = "0.1.0"
