"""The engine in a child process (Qt-free): typed messages (``protocol``), the parent's
handle (``process.EngineProcess``), the child's loop (``loop``) and its recording
handle (``recording_link``). The parent imports no torch; the child imports the engine."""
