"""Batch-invariant reductions: sums built from elementwise additions only, so every row's bits depend on
that row alone, whatever the batch size, thread count or device (DESIGN.md principle 4). A library
reduction may split a row's sum differently for different batch sizes, which changes the last bits."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def row_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum over the last dimension as a pairwise tree: zero-pad to a power of two (zeros add exactly), then
    add the two halves until one value is left. Returns ``t.shape[:-1]``."""
    count = t.shape[-1]
    width = 1 << max(count - 1, 0).bit_length()
    t = F.pad(t, (0, width - count))
    while width > 1:
        width //= 2
        t = t[..., :width] + t[..., width:]
    return t.squeeze(-1)
