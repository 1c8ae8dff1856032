"""Label spaces: how logits become predictions and how correctness is judged, per dataset."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from biasbench.data.datasets import Sample
from biasbench.data.labels.imagenet import subset_indices
from biasbench.data.labels.spaces import LABEL_SPACES, get_label_space, objectnet_space
from biasbench.probes.accuracy import last_batch_top1, space_accuracy_records


def samples(labels, metas=None):
    metas = metas or [{}] * len(labels)
    return [Sample(path=None, label=int(y), meta=m) for y, m in zip(labels, metas, strict=True)]


def test_registry_lists_every_space():
    assert {"imagenet", "imagenet-a-200", "imagenet-r-200", "categories16", "imagenet-real", "objectnet-113"} <= set(
        LABEL_SPACES
    )


def test_imagenet_space_matches_the_plain_softmax():
    torch.manual_seed(0)
    logits = torch.randn(4, 1000)
    labels = torch.tensor([1, 2, 3, 4])
    ours = get_label_space("imagenet").outputs(logits, labels)
    probs = torch.softmax(logits, dim=1)
    top_p, top_i = probs.topk(5, dim=1)
    ref = {
        "topk": top_i.to(torch.int16),
        "topk_prob": top_p,
        "p_label": probs.gather(1, labels[:, None]).squeeze(1),
        "sum_p2": (probs * probs).sum(1),
    }
    assert ours.keys() == ref.keys()
    for key in ref:
        assert ours[key].dtype == ref[key].dtype and torch.equal(ours[key], ref[key])


def test_subset_scoring_takes_argmax_over_member_logits_only():
    space = get_label_space("imagenet-a-200")
    members = subset_indices("a")
    assert len(members) == 200 and list(members) == sorted(members)
    non_member = next(i for i in range(1000) if i not in set(members))
    logits = torch.zeros(2, 1000)
    logits[:, non_member] = 10.0  # the global arg-max is outside the 200 classes ...
    logits[0, members[3]] = 5.0  # ... so the best member decides
    logits[1, members[7]] = 5.0
    labels = [members[3], members[3]]
    out = space.outputs(logits, torch.tensor(labels))
    topk = out["topk"].numpy().astype(np.int64)
    assert topk[:, 0].tolist() == [members[3], members[7]]
    assert space.hits(topk, samples(labels), 1).tolist() == [True, False]
    # 1000-way scoring of the same logits gets both wrong
    full = get_label_space("imagenet").outputs(logits, torch.tensor(labels))["topk"].numpy()
    assert full[:, 0].tolist() == [non_member, non_member]
    # probabilities are renormalised over the 200 members
    assert torch.allclose(torch.tensor(float(out["topk_prob"][0, 0])), torch.softmax(logits[0, list(members)], 0).max())


def test_categories16_uses_mean_member_probability():
    space = get_label_space("categories16")
    logits = torch.full((1, 1000), -10.0)
    logits[0, 404] = 3.0  # airplane (one member)
    logits[0, 294:298] = 3.1  # bear (four members)
    out = space.outputs(logits, torch.tensor([1]))
    assert int(out["topk"][0, 0]) == 1  # bear: mean of its members beats airplane's single member
    assert float(space.probabilities(logits).sum()) == pytest.approx(1.0)  # renormalised: NLL/ECE defined


def test_real_hits_and_skips_empty_sets():
    space = get_label_space("imagenet-real")
    s = samples([0, 5, 7], [{"real": ()}, {"real": (5, 9)}, {"real": (3,)}])
    topk = np.array([[0, 1, 2, 3, 4], [9, 1, 2, 3, 4], [1, 2, 3, 4, 8]])
    assert space.scored(s).tolist() == [False, True, True]
    recs = space_accuracy_records(space, topk, s)
    assert (recs[0].metric, recs[0].value, recs[0].n) == ("top1", 0.5, 2)  # 9 ∈ {5, 9}; 1 ∉ {3}
    assert recs[1].value == 1.0  # 3 is in the second image's top-5


def test_real_compat_last_batch_uses_only_the_last_batch():
    space = get_label_space("imagenet-real")
    n = 10
    s = samples(range(n), [{"real": (i,)} for i in range(n)])
    topk = np.array([[i if i >= 8 else -1] * 5 for i in range(n)])  # only the last two are right
    assert space_accuracy_records(space, topk, s)[0].value == pytest.approx(0.2)
    rec = last_batch_top1(space, topk, s, batch_size=4)  # batches 4, 4, 2 → last batch = images 8, 9
    assert (rec.value, rec.n) == (1.0, 2)


def test_accuracy_probe_compat_value_gets_its_own_metric(tmp_path, tiny_model):
    from biasbench.data.datasets import get_dataset_spec
    from biasbench.engine.inference import Engine, EngineConfig
    from biasbench.probes import get_probe
    from biasbench.probes.base import ProbeContext
    from tests.conftest import make_imagenet_sample

    make_imagenet_sample(tmp_path, count=10)
    ds = get_dataset_spec("imagenet-sample").load(tmp_path, check_count=False)
    ctx = ProbeContext(tiny_model, ds, Engine(EngineConfig(device="cpu", batch_size=10, progress=False)))
    plain = {r.metric: r for r in get_probe("accuracy")().run(ctx).records}
    probe = get_probe("accuracy").with_overrides({"compat_last_batch": True, "compat_batch_size": 4})
    out = probe.run(ctx)
    compat = {r.metric: r for r in out.records}
    assert set(compat) == {"top1", "top5", "top1_compat_last_batch"}
    assert compat["top1"] == plain["top1"] and compat["top5"] == plain["top5"]  # canonical = correct value
    topk = np.stack(out.samples["topk"].to_numpy()).astype(np.int64)
    labels = out.samples["label"].to_numpy()
    assert compat["top1_compat_last_batch"].n == 2  # batches 4, 4, 2
    assert compat["top1_compat_last_batch"].value == pytest.approx(np.mean(topk[8:, 0] == labels[8:]))


def test_objectnet_many_to_one_mapping():
    space = objectnet_space({"alarm_clock": ("n02708093", "n03196217"), "banana": ("n07753592",)})
    assert space.columns == (409, 530, 954) and space.column_labels == (0, 0, 1)
    logits = torch.zeros(3, 1000)
    logits[0, 530] = 5  # digital clock → alarm clock (class 0)
    logits[1, 954] = 5  # banana → 1
    logits[2, 0] = 9  # tench is not a member: ignored, the best member decides
    logits[2, 409] = 1
    out = space.outputs(logits, torch.tensor([0, 0, 0]))
    assert out["topk"][:, 0].tolist() == [0, 1, 0]
    # p_label sums the probability of all members of the label's class
    p = torch.softmax(logits[1, [409, 530, 954]], 0)
    assert float(out["p_label"][1]) == pytest.approx(float(p[0] + p[1]), rel=1e-5)
