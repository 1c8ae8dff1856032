"""``transfer`` with ``method=finetune``: full fine-tuning of a copy of the model with a fresh linear head."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from biasbench.adaptation.finetune import FinetuneConfig, finetune, lr_factor, select_lr, with_new_head
from biasbench.core.errors import BiasbenchError
from biasbench.core.preprocessing import Preprocess
from biasbench.data.datasets import Dataset, Sample, get_dataset_spec
from biasbench.engine.inference import Engine, EngineConfig
from biasbench.models.wrapper import Classifier
from biasbench.probes import ProbeContext, get_probe

ENGINE = EngineConfig(device="cpu", batch_size=16, progress=False, num_workers=0)
COLOURS = ((220, 30, 30), (30, 30, 220))  # class 0 red, class 1 blue


def tiny_cnn(classes: int = 5, seed: int = 0) -> Classifier:
    """Conv → BatchNorm → ReLU → pool → Linear head, on 16×16 inputs."""
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, classes),
    )
    return Classifier(net, name="tiny-cnn", preprocess=Preprocess((16, 16), 1.0))


@pytest.fixture(scope="module")
def colours(tmp_path_factory) -> Dataset:
    """Two classes of constant-colour 16×16 images with a little seeded noise: 24 train + 16 test per class."""
    folder = tmp_path_factory.mktemp("colours")
    rng = np.random.default_rng(0)
    samples = []
    for split, count in (("train", 24), ("test", 16)):
        for label, colour in enumerate(COLOURS):
            for k in range(count):
                pixels = np.clip(np.array(colour) + rng.integers(-20, 21, (16, 16, 3)), 0, 255).astype(np.uint8)
                path = folder / split / str(label) / f"{k}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(pixels).save(path)
                samples.append(Sample(path, label, {"split": split}))
    return Dataset(get_dataset_spec("sklearn-digits"), folder, tuple(samples))


def _run(model, dataset, seed=0, **params):
    probe = get_probe("transfer").with_overrides({"method": "finetune", "shots": 48, **params})
    return probe.run(ProbeContext(model, dataset, Engine(ENGINE), seed=seed))


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_finetuning_separates_an_easy_task_and_leaves_the_model_untouched(colours):
    model = tiny_cnn()
    before, modes = _state(model), [m.training for m in model.modules()]
    out = _run(model, colours, steps=40, batch_size=16, learning_rates=(0.1,))
    by = {r.metric: r for r in out.records}
    top1 = by["top1"]
    assert top1.condition == "finetune" and top1.n == 32
    assert top1.value >= 0.9 and top1.ci_low <= top1.value <= top1.ci_high
    assert by["learning_rate"].value == 0.1 and by["learning_rate"].n == 48
    assert "val_top1" not in by  # one rate: nothing chosen
    assert out.notes["method"] == "finetune" and set(out.samples["condition"]) == {"finetune"}
    assert (out.samples["prediction"] == out.samples["label"]).mean() == pytest.approx(top1.value)
    after = model.state_dict()
    assert after.keys() == before.keys()
    for key, value in before.items():
        assert torch.equal(after[key], value), key  # parameters and BatchNorm running statistics alike
    assert [m.training for m in model.modules()] == modes


def test_same_seed_same_weights_and_accuracy(colours):
    model = tiny_cnn()
    images = torch.stack([torch.full((3, 16, 16), 40 * i, dtype=torch.uint8) for i in range(6)])
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    config = FinetuneConfig(steps=5, batch_size=4, seed=3)
    first = finetune(model, images, labels, 3, 0.05, config, torch.device("cpu"))
    second = finetune(model, images, labels, 3, 0.05, config, torch.device("cpu"))
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    other = finetune(model, images, labels, 3, 0.05, FinetuneConfig(steps=5, batch_size=4, seed=4), torch.device("cpu"))
    assert not torch.equal(other.net[5].weight, first.net[5].weight)  # the seed matters (head init, order)
    assert [r.value for r in _run(model, colours, steps=3, batch_size=8).records] == [
        r.value for r in _run(model, colours, steps=3, batch_size=8).records
    ]


def test_the_new_head_replaces_the_logits_layer_with_the_task_classes():
    model = tiny_cnn(classes=5)
    net, name = with_new_head(model, 3, torch.rand(2, 3, 16, 16))
    assert name == "net.5"
    assert isinstance(net.net[5], nn.Linear) and net.net[5].weight.shape == (3, 8) and net.net[5].bias.shape == (3,)
    assert net(torch.rand(2, 3, 16, 16)).shape == (2, 3)
    assert model.net[5].weight.shape == (5, 8)  # the original keeps its head
    assert net.net[0].weight is not model.net[0].weight and torch.equal(net.net[0].weight, model.net[0].weight)


def test_a_model_without_a_linear_head_is_named(colours):
    headless = Classifier(nn.Sequential(nn.Conv2d(3, 4, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten()), name="headless")
    with pytest.raises(BiasbenchError, match="headless: cannot find its classification head"):
        _run(headless, colours, steps=1, batch_size=4)


def test_bad_parameters_are_named():
    transfer = get_probe("transfer")
    with pytest.raises(BiasbenchError, match="'linear' or 'finetune'"):
        transfer.with_overrides({"method": "full"})
    with pytest.raises(BiasbenchError, match="batch_size"):
        transfer.with_overrides({"method": "finetune", "batch_size": 1})
    with pytest.raises(BiasbenchError, match="learning_rates"):
        transfer.with_overrides({"method": "finetune", "learning_rates": (0.0,)})
    assert transfer.with_overrides({}).params.method == "linear"


def test_the_schedule_is_task_adaptations():
    # run_all_tasks.sh: 1000 steps, 80 warm-up steps from 0, lr x0.1 at 300, 600 and 900
    assert lr_factor(0, 1000) == 0 and lr_factor(40, 1000) == pytest.approx(0.5) and lr_factor(80, 1000) == 1
    assert lr_factor(299, 1000) == 1 and lr_factor(300, 1000) == pytest.approx(0.1)
    assert lr_factor(600, 1000) == pytest.approx(0.01) and lr_factor(999, 1000) == pytest.approx(0.001)


def test_several_learning_rates_are_chosen_on_the_held_out_split(colours):
    model = tiny_cnn()
    images = torch.stack([torch.full((3, 16, 16), c, dtype=torch.uint8) for c in (0, 255) * 10])
    labels = torch.tensor([0, 1] * 10)
    config = FinetuneConfig(steps=20, batch_size=8)
    lr, scores = select_lr(model, images, labels, 2, (1e-6, 0.1), config, torch.device("cpu"))
    assert set(scores) == {1e-6, 0.1} and lr == max(scores, key=lambda r: (scores[r], -r))
    assert scores[0.1] == 1.0  # black vs white is learnt at a usable rate
    out = _run(model, colours, steps=3, batch_size=8, learning_rates=(0.01, 0.1))
    by = {r.metric: r for r in out.records}
    assert by["val_top1"].condition == "finetune" and by["val_top1"].n == 10
    # 3 steps at 0.01 do not separate the colours on the held-out split; 0.1 does (a tie would pick 0.01)
    assert by["learning_rate"].value == 0.1 and by["val_top1"].value == 1.0
