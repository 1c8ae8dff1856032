"""PGD / FGSM: ε = 0 is clean accuracy, robust accuracy falls with ε and steps, weak models break."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from biasbench.analysis.specs import PGD_LOW
from biasbench.attacks import AttackConfig, run_attack
from biasbench.attacks.gradient import random_start
from biasbench.models.wrapper import Classifier
from biasbench.probes.adversarial import (
    Adversarial,
    AdversarialParams,
    compat_denominator,
    epsilon_label,
    robust_records,
)


def linear_model(seed: int = 0, size: int = 8) -> Classifier:
    """A deliberately weak (linear) 1000-way classifier on size×size images."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * size * size, 1000))
    return Classifier(net, name="linear", mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25)).eval()


@pytest.fixture(scope="module")
def setup():
    model = linear_model()
    x = torch.rand(24, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = model(x).argmax(1)  # every image is classified correctly when clean
    return model, x, y, torch.arange(24)


def robust(model, x, y, idx, **kw) -> float:
    adv = run_attack(model, x, y, idx, AttackConfig(**kw))
    with torch.no_grad():
        return float((model(adv).argmax(1) == y).float().mean())


def test_epsilon_zero_is_clean_accuracy(setup):
    model, x, y, idx = setup
    for attack in ("pgd", "fgsm"):
        adv = run_attack(model, x, y, idx, AttackConfig(attack, epsilon=0.0))
        assert torch.equal(adv, x)
    assert robust(model, x, y, idx, epsilon=0.0) == 1.0


def test_weak_model_loses_accuracy_and_stays_in_the_ball(setup):
    model, x, y, idx = setup
    eps = 4 / 255
    adv = run_attack(model, x, y, idx, AttackConfig(epsilon=eps, steps=10, step_size=1 / 255))
    assert float((adv - x).abs().max()) <= eps + 1e-6 and adv.min() >= 0 and adv.max() <= 1
    assert robust(model, x, y, idx, epsilon=eps, steps=10, step_size=1 / 255) < 0.5
    assert robust(model, x, y, idx, attack="fgsm", epsilon=eps) < 1.0
    l2 = run_attack(model, x, y, idx, AttackConfig(norm="l2", epsilon=0.5, steps=10, step_size=0.1))
    assert float((l2 - x).flatten(1).norm(dim=1).max()) <= 0.5 + 1e-5


@pytest.mark.parametrize(
    "norm,grid,step", [("linf", [0, 0.25, 0.5, 1, 2, 4], 1 / 255), ("l2", [0, 0.05, 0.1, 0.3], 0.05)]
)
def test_robust_accuracy_non_increasing_in_epsilon(setup, norm, grid, step):
    model, x, y, idx = setup
    scale = 1 / 255 if norm == "linf" else 1.0
    accs = [robust(model, x, y, idx, norm=norm, epsilon=e * scale, steps=5, step_size=step) for e in grid]
    assert accs[0] == 1.0
    assert all(a >= b for a, b in zip(accs, accs[1:], strict=False)), accs
    assert accs[-1] < accs[0]


def test_robust_accuracy_non_increasing_in_steps(setup):
    model, x, y, idx = setup
    kw = dict(epsilon=1 / 255, step_size=0.25 / 255, success="any-step")
    accs = [robust(model, x, y, idx, steps=s, **kw) for s in (0, 1, 2, 4, 8)]
    assert all(a >= b for a, b in zip(accs, accs[1:], strict=False)), accs
    assert accs[-1] < accs[0]


def test_random_start_is_seeded_per_sample_not_per_batch(setup):
    _, x, _, idx = setup
    full = random_start(x, idx, 0.1, "linf", seed=3)
    part = random_start(x[5:9], idx[5:9], 0.1, "linf", seed=3)
    assert torch.equal(full[5:9], part)
    assert float(full.abs().max()) <= 0.1
    assert not torch.equal(full, random_start(x, idx, 0.1, "linf", seed=4))


def test_l2_random_start_lies_in_the_ball_and_is_seeded_per_sample(setup):
    _, x, _, idx = setup
    full = random_start(x, idx, 0.5, "l2", seed=3)
    assert torch.equal(full[2:3], random_start(x[2:3], idx[2:3], 0.5, "l2", seed=3))
    norms = full.flatten(1).norm(dim=1)
    assert float(norms.max()) <= 0.5 + 1e-6 and float(norms.min()) > 0
    small = random_start(x, idx, 0.25, "l2", seed=3)  # same rays, scaled by ε
    torch.testing.assert_close(small, full / 2)


def test_params_parse_fractions_and_compat_denominator():
    p = AdversarialParams(epsilon="0.5/255,4/255", step_size="2/255")
    assert p.epsilon == pytest.approx((0.5 / 255, 4 / 255)) and p.step_size == pytest.approx(2 / 255)
    assert AdversarialParams(epsilon=0.25).epsilon == (0.25,)
    assert AdversarialParams().epsilon == pytest.approx((0.5 / 255,)) and AdversarialParams().steps == 40
    assert epsilon_label(0.5 / 255, "linf") == "0.5/255" and epsilon_label(0.25, "l2") == "0.25"
    assert compat_denominator(50_000, 128) == 50_048 and compat_denominator(50_000, 500) == 50_000
    assert np.isclose(1 - 9_200 / compat_denominator(50_000, 128), 0.81618, atol=1e-5)


def test_compat_denominator_has_its_own_metric_and_robust_accuracy_stays_correct():
    robust = np.arange(300) % 3 == 0  # 100 of 300 robust
    plain = robust_records(robust, "c")
    assert [(r.metric, r.value, r.n) for r in plain] == [("robust_accuracy", pytest.approx(1 / 3), 300)]
    both = robust_records(robust, "c", compat_batch_size=128)  # 3 batches of 128 = 384
    assert both[0] == plain[0]
    assert (both[1].metric, both[1].value, both[1].n) == ("robust_accuracy_compat_denominator", 100 / 384, 384)
    # the analysis reads the study's default attack under the probe's own condition name
    assert Adversarial().condition(AdversarialParams().configs(0)[0]) == PGD_LOW


def test_autoattack_preset_configuration(setup, monkeypatch):
    torchattacks = pytest.importorskip("torchattacks")
    built = {}

    class Recorder:
        def __init__(self, attacks):
            built["attacks"] = attacks

        def __call__(self, x, y):
            return x

    monkeypatch.setattr(torchattacks, "MultiAttack", Recorder)
    model, x, y, idx = setup
    run_attack(model, x[:2], y[:2], idx[:2], AttackConfig("autoattack", epsilon=4 / 255, seed=0))
    apgd, apgdt, fab, square = built["attacks"]
    assert (apgd.steps, apgdt.steps, fab.steps) == (100, 100, 100)
    assert apgdt.n_target_classes == 9 and fab.n_target_classes == 9
    assert square.n_queries == 5000 and apgd.seed == 0


@pytest.mark.realdata
@pytest.mark.slow
def test_end_to_end_bundled_model_pgd_and_calibration(data_root):
    """A real model on 4 real images: ε = 0 equals clean accuracy, PGD lowers it; calibration is finite."""
    from biasbench.data.datasets import get_dataset_spec
    from biasbench.engine.inference import Engine, EngineConfig
    from biasbench.models import load_model
    from biasbench.probes import get_probe
    from biasbench.probes.base import ProbeContext

    ds = get_dataset_spec("imagenet-sample").load(data_root).head(4)
    model = load_model("bundled:efficientnet_lite0")
    ctx = ProbeContext(model, ds, Engine(EngineConfig(device="cpu", batch_size=4, progress=False)))
    probe = get_probe("adversarial").with_overrides({"epsilon": "0,4/255", "steps": 3, "step_size": "2/255"})
    rec = {(r.metric, r.condition): r.value for r in probe.run(ctx).records}
    clean = rec[("top1", "")]
    assert clean > 0.5
    assert rec[("robust_accuracy", "pgd/linf/eps=0/255")] == clean
    assert rec[("robust_accuracy", "pgd/linf/eps=4/255")] < clean
    cal = {r.metric: r.value for r in get_probe("calibration")().run(ctx).records}
    assert cal["top1"] == clean and 0 <= cal["ece"] <= 1 and np.isfinite(cal["nll"])
