"""Multiple-comparison control: Holm (1979) family-wise error and Benjamini-Hochberg (1995) FDR."""

from __future__ import annotations

import numpy as np


def _prepare(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    p = np.asarray(p, dtype=float)
    valid = np.flatnonzero(~np.isnan(p))  # NaN p-values are untested cells: not part of the family
    order = valid[np.argsort(p[valid], kind="stable")]
    return p, order, np.full(p.shape, np.nan)


def holm(p: np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values: max over j <= i of (m - j + 1) p_(j), capped at 1."""
    p, order, out = _prepare(p)
    m = len(order)
    steps = (m - np.arange(m)) * p[order]
    out[order] = np.minimum(1.0, np.maximum.accumulate(steps))
    return out


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """BH step-up adjusted p-values (q-values): min over j >= i of m p_(j) / j, capped at 1."""
    p, order, out = _prepare(p)
    m = len(order)
    steps = m * p[order] / np.arange(1, m + 1)
    out[order] = np.minimum(1.0, np.minimum.accumulate(steps[::-1])[::-1])
    return out


ADJUSTMENTS = {"holm": holm, "bh": benjamini_hochberg}
