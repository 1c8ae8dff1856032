"""Ranks of label groups in the full 1000-class ranking: the per-sample quantity behind REFINED-BIAS's
ranking-based shape/texture bias (Kim et al., "On the Reliability of Cue Conflict and Beyond", 2026).

As ``refined_bias/utils.py`` and ``eval_refined_bias.py`` of the authors' code compute it, a model's 1000
classes are sorted by decreasing score, every class is renamed to its group (several ImageNet classes may form
one group: "clock" = analog, digital and wall clock), and the rank of a group is the 1-based position of its
*first* (best-ranked) member. The other members of the group do not push it down; every class outside the
group does, members of other groups included. The ranking is over the logits, as the authors' README defines it
(their code sorts float32 softmax probabilities: the same order, except among classes whose probability
underflows to 0, more than ~100 logits below the top, where their order is numpy's sort order).

Ties: a class outside the group whose logit equals the group's best logit does not count as ranked above it
(the authors' sort leaves tie order to numpy). Only exactly equal float logits tie.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch

from biasbench.data.labels.imagenet import NUM_CLASSES


def member_table(groups: Sequence[Sequence[int]], num_classes: int = NUM_CLASSES) -> torch.Tensor:
    """(G, num_classes) boolean table: row g marks the ImageNet classes of group g."""
    table = torch.zeros(len(groups), num_classes, dtype=torch.bool)
    for g, members in enumerate(groups):
        if not len(members):
            raise ValueError(f"group {g} has no member classes")
        table[g, list(members)] = True
    return table


def best_member_rank(logits: torch.Tensor, members: torch.Tensor) -> torch.Tensor:
    """(N,) 1-based rank of each row's group in the ranking of ``logits`` (N, C): one plus the number of
    classes whose logit is strictly above the group's best member. ``members`` (N, C) marks each row's group."""
    scores = logits.float()
    best = scores.masked_fill(~members, float("-inf")).amax(dim=1, keepdim=True)
    return (scores > best).sum(dim=1) + 1


def group_rank_outputs(
    table: torch.Tensor, labels: Mapping[str, np.ndarray]
) -> Callable[[torch.Tensor, object], dict[str, torch.Tensor]]:
    """Extra per-sample outputs for an engine reducer: for every ``name -> labels`` (group index per dataset
    sample, in dataset order), ``name`` holds the rank (int32) of the sample's group. Batches are looked up by
    their dataset indices, so the outputs do not depend on batch size or order."""
    on_device: dict[torch.device, tuple[torch.Tensor, dict[str, torch.Tensor]]] = {}

    def ranks(logits: torch.Tensor, batch) -> dict[str, torch.Tensor]:
        device = logits.device
        if device not in on_device:
            on_device[device] = (
                table.to(device),
                {name: torch.as_tensor(np.asarray(v, dtype=np.int64), device=device) for name, v in labels.items()},
            )
        rows, by_index = on_device[device]
        index = batch.indices.to(device)
        return {name: best_member_rank(logits, rows[group[index]]).to(torch.int32) for name, group in by_index.items()}

    return ranks


def mean_reciprocal_rank(ranks: np.ndarray) -> float:
    """Mean of 1 / rank (NaN for no ranks): REFINED-BIAS's Shape-Sens / Texture-Sens."""
    ranks = np.asarray(ranks, dtype=float)
    return float(np.mean(1.0 / ranks)) if len(ranks) else float("nan")


def relative_preference(mrr_a: float, mrr_b: float) -> float:
    """mrr_a / (mrr_a + mrr_b): REFINED-BIAS's relative bias (shape preference for a = shape); NaN if both 0."""
    total = mrr_a + mrr_b
    return mrr_a / total if total > 0 else float("nan")
