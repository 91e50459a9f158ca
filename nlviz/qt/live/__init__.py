"""The live front: the engine process driven from the GUI (controller, worker thread,
control bar) on the shared main window, panels and presenter."""
