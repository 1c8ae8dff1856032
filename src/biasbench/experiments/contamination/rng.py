"""Named random streams: every random draw of the experiment comes from its own explicit generator."""

from __future__ import annotations

import torch

from biasbench.core.fingerprint import digest


def stream(seed: int, name: str) -> torch.Generator:
    """A CPU generator for the random stream ``name`` of run ``seed``.

    Streams are independent of each other, so adding a draw to one (say, a larger test set) never changes
    another (the network init) and results do not depend on the order the pieces are built in.
    """
    generator = torch.Generator()
    generator.manual_seed(int(digest([seed, name]), 16) % 2**63)
    return generator
