"""Batch-invariant pairwise sums (core/reductions.py)."""

from __future__ import annotations

import pytest
import torch

from biasbench.core.reductions import row_sum


@pytest.mark.parametrize("width", [1, 2, 5, 50176])
def test_row_sum_is_accurate_and_bit_identical_at_any_batch_size(width):
    t = torch.rand(64, width, generator=torch.Generator().manual_seed(width))
    full = row_sum(t)
    assert full.shape == (64,)
    torch.testing.assert_close(full.double(), t.double().sum(-1), rtol=1e-6, atol=0)
    for lo, hi in ((0, 1), (3, 10)):
        assert torch.equal(row_sum(t[lo:hi]), full[lo:hi])
