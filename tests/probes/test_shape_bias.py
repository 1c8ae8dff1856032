import math

import numpy as np
import pytest

from biasbench.probes.shape_bias import shape_bias, shape_bias_records, shape_texture_counts


def fixture_decisions():
    """1,280 images as in model-vs-human: 1,200 conflict + 80 no-conflict. Decisions give n_shape = 170,
    n_texture = 622 on the conflict images and 64 correct no-conflict images (tv_resnet50, METHODS §2.4)."""
    shape = np.repeat(np.arange(16), 80)
    texture = shape.copy()
    conflict_idx = np.concatenate([np.arange(c * 80 + 5, c * 80 + 80) for c in range(16)])
    texture[conflict_idx] = (shape[conflict_idx] + 1 + np.arange(1200) % 15) % 16
    decisions = (shape + 7) % 16  # wrong on both cues...
    decisions[conflict_idx] = np.where(
        texture[conflict_idx] == decisions[conflict_idx], (decisions[conflict_idx] + 1) % 16, decisions[conflict_idx]
    )
    decisions[conflict_idx[:170]] = shape[conflict_idx[:170]]
    decisions[conflict_idx[170:792]] = texture[conflict_idx[170:792]]
    no_conflict = np.setdiff1d(np.arange(1280), conflict_idx)
    decisions[no_conflict[:64]] = shape[no_conflict[:64]]
    return decisions, shape, texture


def test_fixture_170_622_gives_0_2146():
    decisions, shape, texture = fixture_decisions()
    assert shape_texture_counts(decisions, shape, texture) == (170, 622)
    assert shape_bias(170, 622) == pytest.approx(0.2146464646, abs=1e-9)


def test_records_fractions_over_1280_and_accuracy16():
    decisions, shape, texture = fixture_decisions()
    rec = {r.metric: r for r in shape_bias_records(decisions, shape, texture, reps=300)}
    assert rec["shape_bias"].value == pytest.approx(170 / 792)
    assert rec["shape_bias"].n == 792
    assert rec["shape_fraction"].value == pytest.approx(170 / 1280)
    assert rec["texture_fraction"].value == pytest.approx(622 / 1280)
    assert rec["top1"].value == pytest.approx(234 / 1280)  # 18.28125 %, as released
    assert rec["shape_bias"].ci_low < 170 / 792 < rec["shape_bias"].ci_high
    assert rec["shape_bias"].ci_high - rec["shape_bias"].ci_low < 0.08


def test_bootstrap_ci_is_seeded():
    decisions, shape, texture = fixture_decisions()
    a = shape_bias_records(decisions, shape, texture, seed=3, reps=200)[0]
    b = shape_bias_records(decisions, shape, texture, seed=3, reps=200)[0]
    assert (a.ci_low, a.ci_high) == (b.ci_low, b.ci_high)


def test_zero_resamples_give_the_value_without_an_interval():
    """``bootstrap_reps=0`` (e.g. an imported VLM's decisions stored quickly): the same value, CI bounds NaN."""
    decisions, shape, texture = fixture_decisions()
    none = shape_bias_records(decisions, shape, texture, reps=0)[0]
    some = shape_bias_records(decisions, shape, texture, reps=200)[0]
    assert none.value == some.value == pytest.approx(170 / 792)
    assert math.isnan(none.ci_low) and math.isnan(none.ci_high)


def test_undefined_when_no_cue_matches():
    assert math.isnan(shape_bias(0, 0))
    shape = np.array([0, 1])
    texture = np.array([1, 0])
    decisions = np.array([2, 2])
    assert math.isnan(shape_bias_records(decisions, shape, texture, reps=10)[0].value)
