"""ECE / NLL / Brier as pure functions on synthetic predictors, and the probe end to end."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from biasbench.probes.calibration import (
    brier_score,
    calibration_from_outputs,
    expected_calibration_error,
    negative_log_likelihood,
)


def test_perfectly_calibrated_predictor_has_ece_near_zero():
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.05, 1.0, 200_000)
    correct = rng.uniform(size=conf.size) < conf  # right exactly as often as it claims
    assert expected_calibration_error(conf, correct) < 0.005


def test_overconfident_predictor_ece_is_the_gap():
    conf = np.full(1000, 0.9)
    correct = np.arange(1000) % 2 == 0
    assert expected_calibration_error(conf, correct) == pytest.approx(0.4)
    # bins are equal-width and right-closed: 1/15 lands in the first bin, 0 too
    assert expected_calibration_error(np.array([0.0, 1 / 15]), np.array([False, False])) == pytest.approx(1 / 30)
    assert np.isnan(expected_calibration_error(np.array([]), np.array([])))


def test_nll_and_brier_values():
    assert negative_log_likelihood(np.array([1.0, np.exp(-1.0)])) == pytest.approx(0.5)
    assert np.isfinite(negative_log_likelihood(np.array([0.0])))
    assert brier_score(np.array([1.0]), np.array([1.0])) == pytest.approx(0.0)  # confident and right
    assert brier_score(np.array([0.0]), np.array([1.0])) == pytest.approx(2.0)  # confident and wrong
    c = 1000
    assert brier_score(np.array([1 / c]), np.array([1 / c])) == pytest.approx(1 - 1 / c)  # uniform


def test_brier_from_stored_outputs_equals_direct_definition():
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.ones(10), size=50)
    labels = rng.integers(0, 10, 50)
    onehot = np.eye(10)[labels]
    direct = ((probs - onehot) ** 2).sum(1).mean()
    p_label = probs[np.arange(50), labels]
    assert brier_score(p_label, (probs**2).sum(1)) == pytest.approx(direct)


def test_calibration_from_stored_frame_per_condition():
    frame = pd.DataFrame(
        {
            "condition": ["clean", "clean", "noise", "noise"],
            "label": [1, 2, 1, 2],
            "topk": [[1, 0], [0, 2], [1, 0], [1, 0]],
            "topk_prob": [[0.8, 0.1], [0.6, 0.3], [0.5, 0.4], [0.5, 0.4]],
            "p_label": [0.8, 0.3, 0.5, 0.1],
            "sum_p2": [0.66, 0.46, 0.42, 0.42],
        }
    )
    recs = {(r.metric, r.condition): r.value for r in calibration_from_outputs(frame)}
    assert recs[("ece", "")] == pytest.approx(0.5 * 0.2 + 0.5 * 0.6)
    assert recs[("nll", "noise")] == pytest.approx(-(np.log(0.5) + np.log(0.1)) / 2)
    assert recs[("brier", "")] == pytest.approx(((0.66 - 1.6 + 1) + (0.46 - 0.6 + 1)) / 2)


def test_calibration_probe_end_to_end(tmp_path, tiny_model):
    from biasbench.data.datasets import get_dataset_spec
    from biasbench.engine.inference import Engine, EngineConfig
    from biasbench.probes import get_probe
    from biasbench.probes.base import ProbeContext
    from tests.conftest import make_imagenet_sample

    make_imagenet_sample(tmp_path, count=6)
    ds = get_dataset_spec("imagenet-sample").load(tmp_path, check_count=False)
    engine = Engine(EngineConfig(device="cpu", batch_size=6, progress=False))
    out = get_probe("calibration")().run(ProbeContext(tiny_model, ds, engine))
    values = {r.metric: r.value for r in out.records}
    assert set(values) == {"ece", "nll", "brier", "top1"}
    assert 0 <= values["ece"] <= 1 and values["nll"] > 0 and 0 <= values["brier"] <= 2
    # the same numbers come back from the stored per-sample table
    again = {r.metric: r.value for r in calibration_from_outputs(out.samples)}
    for key in ("ece", "nll", "brier"):
        assert again[key] == pytest.approx(values[key])


def _real_fixture():
    """Four images, probabilities over a few classes (the rest 0) and ReaL sets, worked by hand:

    image  probabilities                 ReaL set  arg-max in set  P(S)  Brier = (1-P(S))^2 + sum_{c not in S} p_c^2
    A      p1=.6 p2=.3 p3=.1             {2, 3}    no (1)          .4    .36 + .36 = .72
    B      p4=.7 p5=.2 p6=.1             {4, 5}    yes             .9    .01 + .01 = .02
    C      p7=.5 p8=.25 p9=.25           {}        excluded
    D      p10=.9 p11=.1                 {10}      yes             .9    .01 + .01 = .02
    """
    from biasbench.data.datasets import Sample

    probs = [{1: 0.6, 2: 0.3, 3: 0.1}, {4: 0.7, 5: 0.2, 6: 0.1}, {7: 0.5, 8: 0.25, 9: 0.25}, {10: 0.9, 11: 0.1}]
    sets = [(2, 3), (4, 5), (), (10,)]
    logits = torch.full((4, 1000), -1e4)
    for i, p in enumerate(probs):
        for c, v in p.items():
            logits[i, c] = float(np.log(v))
    labels = [2, 4, 7, 10]  # the original single labels (B's and D's are in their sets, A's too)
    samples = [Sample(path=None, label=y, meta={"real": s}) for y, s in zip(labels, sets, strict=True)]
    return logits, torch.tensor(labels), samples


def test_real_calibration_uses_real_correctness_and_the_merged_set_by_hand():
    from biasbench.data.labels.spaces import RealSpace
    from biasbench.engine.inference import Batch
    from biasbench.probes.accuracy import space_accuracy_records
    from biasbench.probes.calibration import space_calibration_records

    logits, labels, samples = _real_fixture()
    space = RealSpace("imagenet-real", label_sets=tuple(s.meta["real"] for s in samples))
    reduce = space.reducer()
    out = {k: v.numpy() for k, v in reduce(logits, Batch(torch.arange(4), None, labels)).items()}
    assert out["p_label"][[0, 1, 3]] == pytest.approx([0.4, 0.9, 0.9], abs=1e-6)  # P(S)
    rec = {r.metric: r for r in space_calibration_records(space, out, samples)}
    assert all(r.n == 3 for r in rec.values())  # C (empty set) is left out
    assert rec["ece"].value == pytest.approx((0.6 + 0.3 + 0.1) / 3, abs=1e-6)  # one image per bin
    assert rec["nll"].value == pytest.approx(-(np.log(0.4) + 2 * np.log(0.9)) / 3, abs=1e-6)
    assert rec["brier"].value == pytest.approx((0.72 + 0.02 + 0.02) / 3, abs=1e-6)
    # the same images and the same rule as ReaL accuracy
    (top1,) = space_accuracy_records(space, out["topk"].astype(np.int64)[:, :1], samples)
    assert (top1.value, top1.n) == (pytest.approx(2 / 3), 3)
    # the sets are looked up by dataset index, whatever the batch order
    swapped = reduce(logits[[3, 0]], Batch(torch.tensor([3, 0]), None, labels[[3, 0]]))
    assert swapped["p_label"].tolist() == pytest.approx([0.9, 0.4], abs=1e-6)
    # and the stored per-sample table gives the same numbers
    frame = pd.DataFrame(
        {
            "condition": "clean",
            "index": np.arange(4),
            "label": labels.numpy(),
            "topk": list(out["topk"]),
            "topk_prob": list(out["topk_prob"]),
            "p_label": out["p_label"],
            "sum_p2": out["sum_p2"],
        }
    )
    again = {r.metric: r.value for r in calibration_from_outputs(frame, space=space, samples=samples)}
    assert again == pytest.approx({k: r.value for k, r in rec.items()})


def test_single_label_set_reduces_to_the_usual_nll_and_brier():
    from biasbench.data.labels.spaces import LabelSpace, RealSpace

    logits = torch.randn(5, 1000, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([3, 1, 4, 1, 5])
    real = RealSpace("imagenet-real", label_sets=tuple((int(y),) for y in labels))
    a = real.set_outputs(logits, labels, labels[:, None])
    b = LabelSpace("imagenet").outputs(logits, labels)
    for key in ("p_label", "sum_p2", "topk_prob"):
        assert torch.allclose(a[key], b[key], atol=1e-7)


def test_real_space_without_its_sets_refuses_to_reduce():
    from biasbench.core.errors import DatasetError
    from biasbench.data.labels.spaces import get_label_space

    with pytest.raises(DatasetError, match="label_space_for"):
        get_label_space("imagenet-real").reducer()


def test_calibration_probe_on_real_uses_the_real_sets(tmp_path, tiny_model):
    """The probe end to end on a generated ReaL layout: images 1 (empty set), 2 ({970, 795}), 3, 4."""
    from biasbench.data.datasets import get_dataset_spec
    from biasbench.data.labels.imagenet import imagenet_wnids, real_labels
    from biasbench.data.labels.spaces import label_space_for
    from biasbench.engine.inference import Engine, EngineConfig
    from biasbench.probes import get_probe
    from biasbench.probes.base import ProbeContext
    from tests.fixtures_layouts import make_imagenet_val

    wnids = imagenet_wnids()
    make_imagenet_val(tmp_path, {wnids[65]: [1], wnids[970]: [2], wnids[1]: [3, 4]}, size=16)
    ds = get_dataset_spec("imagenet-real").load(tmp_path, check_count=False)
    assert sorted(s.meta["real"] for s in ds.samples) == sorted(real_labels()[:4])
    engine = Engine(EngineConfig(device="cpu", batch_size=3, progress=False))
    out = get_probe("calibration")().run(ProbeContext(tiny_model, ds, engine))
    rec = {r.metric: r for r in out.records}
    scored = sum(1 for s in ds.samples if s.meta["real"])
    assert rec["ece"].n == rec["nll"].n == rec["top1"].n == scored < 4
    # the stored per-sample table, read with the job's label space, gives the same numbers
    space = label_space_for(ds)
    again = {r.metric: r.value for r in calibration_from_outputs(out.samples, space=space, samples=ds.samples)}
    assert again == pytest.approx({k: rec[k].value for k in ("ece", "nll", "brier")})
