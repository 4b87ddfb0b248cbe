"""One module per paper: networks, losses and the update rule (``Method``)."""
