"""The engine: pure functions over floats and numpy arrays, no I/O."""
