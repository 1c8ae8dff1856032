"""Self-contained experiments that run on synthetic data (feature contamination)."""
