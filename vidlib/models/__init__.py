"""One module per paper: networks, losses, update rule (a ``vidlib.method.Method``)."""
