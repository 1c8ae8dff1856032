"""ECE / NLL / Brier as pure functions on synthetic predictors, and the probe end to end."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

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
