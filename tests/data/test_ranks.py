"""Group ranks in the full 1000-class ranking (REFINED-BIAS): by hand, and against the authors' own
computation re-implemented here (``refined_bias/utils.py``: ``set_class_mappings`` + ``mrr_acc``, ranking by
``ImageNetProbabilitiesTo1000ClassesMapping``)."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from biasbench.data.labels.categories16 import CATEGORIES16, CATEGORY_MEMBERS
from biasbench.data.labels.class_groups import SHAPE_CLASSES, TEXTURE_CLASSES
from biasbench.data.labels.imagenet import imagenet_wnids
from biasbench.data.labels.ranks import (
    best_member_rank,
    group_rank_outputs,
    mean_reciprocal_rank,
    member_table,
    relative_preference,
)


def test_rank_by_hand():
    # 6 classes; group A = {1, 4}, group B = {5}
    logits = torch.tensor([[0.5, 2.0, 3.0, -1.0, 1.0, 0.0], [9.0, 1.0, 8.0, 7.0, 6.0, 10.0]])
    table = member_table([(1, 4), (5,)], num_classes=6)
    a = best_member_rank(logits, table[[0, 0]])
    b = best_member_rank(logits, table[[1, 1]])
    # row 0: A's best member is class 1 (2.0); only class 2 (3.0) is above -> rank 2. B (0.0): 4 above -> 5
    # row 1: A's best member is class 4 (6.0); 9, 8, 7 and 10 are above -> rank 5. B (10.0) is first -> 1
    assert a.tolist() == [2, 5] and b.tolist() == [5, 1]
    assert mean_reciprocal_rank(np.array([2, 5])) == pytest.approx((1 / 2 + 1 / 5) / 2)
    assert relative_preference(0.3, 0.1) == pytest.approx(0.75)
    assert np.isnan(relative_preference(0.0, 0.0)) and np.isnan(mean_reciprocal_rank(np.array([])))


def test_ties_with_other_classes_do_not_push_the_group_down():
    logits = torch.tensor([[1.0, 1.0, 3.0, 1.0]])
    assert best_member_rank(logits, member_table([(1,)], 4))[0].item() == 2  # only class 2 is strictly above


def authors_ranks(probabilities: np.ndarray, id_to_class: dict[str, str], truth: list[str]) -> np.ndarray:
    """The authors' path: WNIDs sorted by decreasing probability, renamed to their class, 1-based position of
    the first occurrence of the ground-truth class name."""
    wnids = np.array(imagenet_wnids())
    ranked = np.take(wnids, np.flip(np.argsort(probabilities), axis=-1), axis=-1)
    renamed = np.vectorize(lambda w: id_to_class.get(w, w))(ranked)
    return np.array([np.where(row == gt)[0][0] + 1 for row, gt in zip(renamed, truth, strict=True)])


@pytest.mark.parametrize("classes", [SHAPE_CLASSES, TEXTURE_CLASSES], ids=["shape", "texture"])
def test_ranks_match_the_authors_code(classes):
    rng = np.random.default_rng(0)
    logits = torch.from_numpy(rng.normal(0, 3, (300, 1000)))  # float64: no ties in the softmax either
    names = sorted(classes)
    truth = rng.integers(0, len(names), 300)
    index = {w: i for i, w in enumerate(imagenet_wnids())}
    groups = [[index[w] for w in classes[n]] for n in names]
    # make the groups rank high now and then, so small ranks (where MRR lives) are exercised
    for i in range(0, 300, 3):
        logits[i, groups[truth[i]][-1]] += 8.0
    ours = best_member_rank(logits, member_table(groups)[truth]).numpy()
    id_to_class = {w: n for n in names for w in classes[n]}
    probs = torch.softmax(logits, dim=1).numpy()
    theirs = authors_ranks(probs, id_to_class, [names[t] for t in truth])
    np.testing.assert_array_equal(ours, theirs)
    assert mean_reciprocal_rank(ours) == pytest.approx(np.mean(1 / theirs))
    assert (ours == 1).any() and ours.max() > 100


def test_categories16_ranks_match_the_authors_code():
    """The same rule with model-vs-human's 16 categories as groups (a dog ranks at its best dog breed)."""
    rng = np.random.default_rng(1)
    logits = torch.from_numpy(rng.normal(0, 2, (200, 1000)))
    truth = rng.integers(0, 16, 200)
    wnids = imagenet_wnids()
    id_to_class = {wnids[m]: c for c in CATEGORIES16 for m in CATEGORY_MEMBERS[c]}
    table = member_table([CATEGORY_MEMBERS[c] for c in CATEGORIES16])
    ours = best_member_rank(logits, table[truth]).numpy()
    theirs = authors_ranks(torch.softmax(logits, 1).numpy(), id_to_class, [CATEGORIES16[t] for t in truth])
    np.testing.assert_array_equal(ours, theirs)


def test_group_rank_outputs_do_not_depend_on_batching():
    rng = np.random.default_rng(2)
    logits = torch.from_numpy(rng.normal(0, 1, (10, 1000)).astype(np.float32))
    labels = {"rank_a": rng.integers(0, 16, 10), "rank_b": rng.integers(0, 16, 10)}
    table = member_table([CATEGORY_MEMBERS[c] for c in CATEGORIES16])
    ranks = group_rank_outputs(table, labels)
    whole = ranks(logits, SimpleNamespace(indices=torch.arange(10)))
    order = torch.tensor([7, 2, 9, 0, 4, 1, 8, 3, 6, 5])
    parts = [ranks(logits[order[i : i + 3]], SimpleNamespace(indices=order[i : i + 3])) for i in range(0, 10, 3)]
    for name in labels:
        shuffled = torch.cat([p[name] for p in parts])
        assert shuffled.dtype == torch.int32
        assert torch.equal(shuffled, whole[name][order])
        assert torch.equal(whole[name], best_member_rank(logits, table[labels[name]]).int())
