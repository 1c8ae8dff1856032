"""model-vs-human's 16 categories: the table of member ImageNet classes and the 1000 → 16 mapping
(METHODS.md §2.2), used by the ``categories16`` label space, shape-bias, critical-band and the human
comparison. The category names themselves live in ``biasbench.core.categories`` (a zero-shot head over them
is built in ``models``).

A 16-category decision is the arg-max over categories of the **mean** softmax probability of each
category's member ImageNet classes (207 classes in total). Predictions outside the members never win.
"""

from __future__ import annotations

from functools import cache

import torch

from biasbench.core.categories import CATEGORIES16


def _span(a: int, b: int) -> list[int]:
    return list(range(a, b + 1))


# Member ImageNet indices (0-based, sorted-WNID order) of each category: METHODS.md §2.2 table.
CATEGORY_MEMBERS: dict[str, tuple[int, ...]] = {
    "airplane": (404,),
    "bear": tuple(_span(294, 297)),
    "bicycle": (444, 671),
    "bird": tuple(
        [
            8,
            *_span(10, 16),
            *_span(18, 20),
            *_span(22, 24),
            *_span(80, 83),
            *_span(87, 96),
            *_span(98, 100),
            *_span(127, 133),
            *_span(135, 145),
        ]
    ),
    "boat": (472, 554, 625, 814, 914),
    "bottle": (440, 720, 737, 898, 899, 901, 907),
    "car": (436, 511, 817),
    "cat": tuple(_span(281, 286)),
    "chair": (423, 559, 765, 857),
    "clock": (409, 530, 892),
    "dog": tuple(
        [
            *_span(152, 191),
            *_span(193, 203),
            *_span(205, 226),
            *_span(228, 241),
            *_span(243, 250),
            *_span(252, 257),
            259,
            *_span(261, 263),
            *_span(265, 268),
        ]
    ),
    "elephant": (385, 386),
    "keyboard": (508, 878),
    "knife": (499,),
    "oven": (766,),
    "truck": (555, 569, 656, 675, 717, 734, 864, 867),
}


@cache
def membership_matrix() -> torch.Tensor:
    """(1000, 16) matrix whose column c averages the probabilities of category c's members."""
    m = torch.zeros(1000, len(CATEGORIES16), dtype=torch.float64)
    for c, name in enumerate(CATEGORIES16):
        members = CATEGORY_MEMBERS[name]
        m[list(members), c] = 1.0 / len(members)
    return m


def probabilities_to_16(probs: torch.Tensor) -> torch.Tensor:
    """Mean member probability per category: (N, 1000) softmax probabilities → (N, 16)."""
    return probs.to(torch.float64) @ membership_matrix().to(probs.device)


def category_probabilities(logits: torch.Tensor) -> torch.Tensor:
    """(N, 16) float32 category probabilities from 1000-way logits: the mean member softmax probability per
    category, renormalised to sum to one (which leaves the arg-max, the decision, unchanged and makes
    NLL/Brier/ECE well defined)."""
    p16 = probabilities_to_16(torch.softmax(logits.float(), dim=1)).float()
    return p16 / p16.sum(1, keepdim=True)


def category_of_class() -> dict[int, int]:
    """ImageNet class index → index of the category it is a member of (members of no category are absent)."""
    return {member: c for c, name in enumerate(CATEGORIES16) for member in CATEGORY_MEMBERS[name]}
