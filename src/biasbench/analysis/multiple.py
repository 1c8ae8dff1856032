"""Multiple-comparison control: Holm (1979) family-wise error and Benjamini-Hochberg (1995) FDR.

Both are statsmodels' ``multipletests``; NaN p-values are untested cells, kept out of the family and left NaN.
"""

from __future__ import annotations

import numpy as np
from statsmodels.stats.multitest import multipletests


def _adjusted(p: np.ndarray, method: str) -> np.ndarray:
    """``multipletests(method=method)`` adjusted p-values of the non-NaN entries; NaN elsewhere."""
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    valid = ~np.isnan(p)
    if valid.any():
        out[valid] = multipletests(p[valid], method=method)[1]
    return out


def holm(p: np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values: max over j <= i of (m - j + 1) p_(j), capped at 1."""
    return _adjusted(p, "holm")


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """BH step-up adjusted p-values (q-values): min over j >= i of m p_(j) / j, capped at 1."""
    return _adjusted(p, "fdr_bh")


ADJUSTMENTS = {"holm": holm, "bh": benjamini_hochberg}
