import torch

from biasbench.data.labels.categories16 import CATEGORIES16, CATEGORY_MEMBERS, category_of_class, membership_matrix
from biasbench.data.labels.spaces import get_label_space

# Member counts per category and the exact lists of the smaller ones (METHODS.md §2.2).
EXPECTED_COUNTS = {
    "airplane": 1, "bear": 4, "bicycle": 2, "bird": 49, "boat": 5, "bottle": 7, "car": 3, "cat": 6,
    "chair": 4, "clock": 3, "dog": 109, "elephant": 2, "keyboard": 2, "knife": 1, "oven": 1, "truck": 8,
}  # fmt: skip


def test_categories_are_alphabetical_and_sixteen():
    assert list(CATEGORIES16) == sorted(CATEGORIES16) and len(CATEGORIES16) == 16


def test_member_counts_and_total_207_disjoint():
    assert {c: len(m) for c, m in CATEGORY_MEMBERS.items()} == EXPECTED_COUNTS
    members = [i for m in CATEGORY_MEMBERS.values() for i in m]
    assert len(members) == 207 and len(set(members)) == 207
    assert min(members) >= 0 and max(members) < 1000


def test_exact_member_lists():
    assert CATEGORY_MEMBERS["truck"] == (555, 569, 656, 675, 717, 734, 864, 867)
    assert CATEGORY_MEMBERS["bottle"] == (440, 720, 737, 898, 899, 901, 907)
    assert CATEGORY_MEMBERS["boat"] == (472, 554, 625, 814, 914)
    assert CATEGORY_MEMBERS["chair"] == (423, 559, 765, 857)
    bird = set(CATEGORY_MEMBERS["bird"])
    assert {8, 10, 16, 18, 20, 22, 24, 80, 83, 87, 96, 98, 100, 127, 133, 135, 145} <= bird
    assert not {9, 17, 21, 97, 134} & bird
    dog = set(CATEGORY_MEMBERS["dog"])
    assert dog == set(range(152, 269)) - {192, 204, 227, 242, 251, 258, 260, 264}


def test_mean_not_sum_aggregation():
    # All probability mass on one dog class (1/109 after averaging) loses to a smaller
    # mass on the single airplane class: mean aggregation, not sum.
    probs = torch.zeros(1, 1000, dtype=torch.float64)
    probs[0, 152:191] = 0.6 / 39  # dog members
    probs[0, 404] = 0.05  # airplane
    mapped = probs @ membership_matrix()
    assert mapped[0].argmax().item() == CATEGORIES16.index("airplane")


def test_decisions_ignore_non_member_classes():
    logits = torch.full((1, 1000), -10.0)
    logits[0, 0] = 20.0  # tench: in no category
    logits[0, 499] = 0.0  # knife
    decision = get_label_space("categories16").outputs(logits, torch.tensor([0]))["topk"][0, 0]
    assert decision.item() == CATEGORIES16.index("knife")


def test_category_of_class_inverts_the_table():
    category = category_of_class()
    assert len(category) == 207 and category[404] == CATEGORIES16.index("airplane")
    assert all(category[m] == CATEGORIES16.index(c) for c, members in CATEGORY_MEMBERS.items() for m in members)
