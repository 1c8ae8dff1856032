"""Leaf modules every layer may import and that import nothing else of biasbench: errors, seeded RNG,
batch-invariant reductions, fingerprints, the preprocessing config, paths, downloads, small statistics and the
torchvision import shim (docs/ARCHITECTURE.md)."""
