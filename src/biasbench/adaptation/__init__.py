"""Few-shot transfer (VTAB-1k style): penultimate features of a frozen model and a linear probe on them."""
