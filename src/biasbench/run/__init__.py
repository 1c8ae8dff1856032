"""Job plans and executors (local; Ray for clusters)."""
