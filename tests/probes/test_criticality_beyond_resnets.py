"""Layer criticality beyond ResNets and on shifted data: ViT and CLIP towers (attention input projections, a
bare projection matrix, the architectures' own stages, open_clip's fresh initialisation) and the
``perturbation`` parameter (a generated corruption, adversarial images), each checked against a by-hand
computation on tiny random models."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from biasbench.attacks.gradient import AttackConfig, run_attack
from biasbench.core.errors import BiasbenchError
from biasbench.core.preprocessing import Preprocess
from biasbench.core.rng import sample_seed
from biasbench.data.datasets import Dataset
from biasbench.data.pixels.images import ImageTransform
from biasbench.models.layers import layer_stages, layer_state, learnable_layers, replaced_layer, untrained_network
from biasbench.models.sources import load_model
from biasbench.models.timm_source import import_timm
from biasbench.models.wrapper import Classifier
from biasbench.perturb.corruptions import corruption_perturbation
from biasbench.probes.base import ProbeContext
from biasbench.probes.criticality import Criticality, CriticalityParams, DecodedImages
from tests.probes.test_criticality import FolderSpec, Tiny, criticality_on, quiet, reset_by_hand, values


def folder(tmp_path, count: int, size: int) -> Dataset:
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(tmp_path / f"{i:02d}_{i * 7}.png")
    spec = FolderSpec()
    return Dataset(spec, tmp_path, tuple(spec.list_samples(tmp_path)))


def subset_pixels(dataset: Dataset, preprocess: Preprocess, num_images: int) -> tuple[torch.Tensor, list[int]]:
    """The first ``num_images`` images of a seed-0 shuffled loader in [0,1], and their dataset indices."""
    loader = torch.utils.data.DataLoader(range(len(dataset)), shuffle=True, generator=torch.Generator().manual_seed(0))
    index = [int(i) for i in loader][:num_images]
    transform = ImageTransform("model", preprocess)
    return torch.stack([transform(dataset.samples[i].path) for i in index]).float() / 255, index


class AttentionNet(nn.Module):
    """Patch embedding, one nn.MultiheadAttention, and an output projection kept as a bare parameter."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Conv2d(3, 8, 4, stride=4)
        self.norm = nn.LayerNorm(8)
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.proj = nn.Parameter(torch.randn(8, 1000) * 0.1)

    def forward(self, x):
        tokens = self.norm(self.embed(x).flatten(2).transpose(1, 2))
        return (tokens + self.attn(tokens, tokens, tokens)[0]).mean(1) @ self.proj


def test_attention_input_projections_and_bare_projections_are_layers():
    torch.manual_seed(0)
    net = AttentionNet()
    assert learnable_layers(net) == ["embed", "attn", "attn.out_proj", "proj"]
    assert learnable_layers(net, include_norm=True) == ["embed", "norm", "attn", "attn.out_proj", "proj"]
    before = {k: v.clone() for k, v in net.state_dict().items()}
    assert set(layer_state(net, "attn")) == {"in_proj_weight", "in_proj_bias"}  # its own tensors, not out_proj's
    with replaced_layer(net, "attn", None):
        assert net.attn.in_proj_weight.abs().sum() == 0 and net.attn.in_proj_bias.abs().sum() == 0
        assert torch.equal(net.attn.out_proj.weight, before["attn.out_proj.weight"])
    fresh = {"proj": torch.ones(8, 1000)}
    with replaced_layer(net, "proj", fresh):
        assert torch.equal(net.proj, fresh["proj"])
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())  # restored bit for bit
    with pytest.raises(BiasbenchError, match="does not fit"), replaced_layer(net, "proj", {"proj": torch.ones(4, 4)}):
        pass


def test_a_timm_vit_by_its_blocks_with_a_reset_by_hand(tmp_path):
    model = load_model("timm:test_vit?pretrained=false")
    layers = learnable_layers(model.net)
    assert layers[:5] == [
        "patch_embed.proj",
        "blocks.0.attn.qkv",
        "blocks.0.attn.proj",
        "blocks.0.mlp.fc1",
        "blocks.0.mlp.fc2",
    ]
    stages = layer_stages(model.net, layers)
    assert list(dict.fromkeys(stages.values())) == ["patch_embed", *(f"blocks.{i}" for i in range(6)), "head"]
    dataset = folder(tmp_path, 8, 40)
    out = Criticality(CriticalityParams(num_images=6, trials=1, layers="patch_embed.proj,blocks.0.attn.qkv,head")).run(
        ProbeContext(model, dataset, quiet(4))
    )
    assert out.notes["init"] == ["timm"]
    assert values(out, "stage_index") == {"patch_embed": 0, "blocks.0": 1, "head": 2}
    x, _ = subset_pixels(dataset, model.preprocess, 6)
    with torch.random.fork_rng(devices=[]):  # timm's own initialisation, seeded as the probe seeds trial 0
        torch.manual_seed(sample_seed(0, 0, "criticality-init"))
        fresh = import_timm().create_model("test_vit", pretrained=False)
    for layer in ("blocks.0.attn.qkv", "head"):
        states = [fresh.get_submodule(layer).state_dict()]
        assert values(out, "criticality")[layer] == pytest.approx(criticality_on(model, x, layer, states), rel=1e-6)


def test_clip_towers_use_their_own_stages_and_initialisation(open_clip_tiny, zero_shot_cache):
    model = load_model("openclip:test-clip-rn?pretrained=none&head=categories16&templates=photo")
    layers = learnable_layers(model.net)
    stages = layer_stages(model.net, layers)
    assert list(dict.fromkeys(stages.values())) == ["stem", "layer1", "layer2", "layer3", "layer4", "attnpool"]
    assert [k for k, s in stages.items() if s == "stem"] == ["visual.conv1", "visual.conv2", "visual.conv3"]
    assert [k for k, s in stages.items() if s == "attnpool"] == [
        f"visual.attnpool.{p}_proj" for p in ("k", "q", "v", "c")
    ]
    fresh, builder = untrained_network(model, seed=5)
    assert builder == "openclip"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(5)
        expected = open_clip_tiny.create_model("test-clip-rn").visual.state_dict()
    assert all(
        torch.equal(v, expected[k.removeprefix("visual.")]) for k, v in fresh.state_dict().items() if "visual." in k
    )
    assert torch.equal(fresh.class_embeddings, model.net.class_embeddings.cpu())


@pytest.fixture
def tiny():
    torch.manual_seed(0)
    return Classifier(Tiny(), name="tiny", preprocess=Preprocess((16, 16), 1.0))


def test_a_generated_corruption_shifts_both_models_alike(tiny, tmp_path):
    dataset = folder(tmp_path, 10, 16)
    shift = "generated/gaussian_noise/3"
    probe = Criticality.with_overrides({"num_images": 8, "trials": 2, "layers": "conv1,fc", "perturbation": shift})
    out = probe.run(ProbeContext(tiny, dataset, quiet(3)))
    x, index = subset_pixels(dataset, tiny.preprocess, 8)
    # the corruption probe's own perturbation, keyed by the images' dataset indices (jpeg85 storage)
    shifted = corruption_perturbation("gaussian_noise", 3, 0, "jpeg85")(x, torch.tensor(index))
    for layer in ("conv1", "fc"):
        states = [reset_by_hand(tiny, layer, trial) for trial in range(2)]
        assert values(out, "criticality")[layer] == pytest.approx(
            criticality_on(tiny, shifted, layer, states), rel=1e-6
        )
        assert values(out, "criticality")[layer] != pytest.approx(criticality_on(tiny, x, layer, states), rel=1e-3)
    with torch.no_grad():
        hits = tiny(shifted).argmax(1) == torch.tensor([dataset.samples[i].label for i in index])
    top1 = values(out, "top1")  # the unmodified model's carries the shift; one per reset layer
    assert set(top1) == {shift, "conv1", "fc"} and top1[shift] == pytest.approx(hits.double().mean().item())
    assert out.notes["perturbation"] == shift and set(out.samples["condition"]) == {shift, "conv1", "fc"}


def test_adversarial_images_are_made_once_against_the_unmodified_model(tiny, tmp_path):
    dataset = folder(tmp_path, 10, 16)
    shift = "pgd/linf/eps=8/255/steps=3/step=4/255"
    probe = Criticality.with_overrides({"num_images": 8, "trials": 1, "layers": "conv2,fc", "perturbation": shift})
    out = probe.run(ProbeContext(tiny, dataset, quiet(3)))
    x, index = subset_pixels(dataset, tiny.preprocess, 8)
    labels = torch.tensor([dataset.samples[i].label for i in index])
    adv = run_attack(tiny, x, labels, torch.tensor(index), AttackConfig("pgd", "linf", 8 / 255, 3, 4 / 255, seed=0))
    assert (adv - x).abs().max() == pytest.approx(8 / 255, abs=1e-6)
    for layer in ("conv2", "fc"):
        states = [reset_by_hand(tiny, layer, 0)]
        assert values(out, "criticality")[layer] == pytest.approx(criticality_on(tiny, adv, layer, states), rel=1e-5)
    with torch.no_grad():
        top1 = (tiny(adv).argmax(1) == labels).double().mean().item()
    assert values(out, "top1")[shift] == pytest.approx(top1)
    # the shifted subset is kept as float32 (an attack leaves the 8-bit grid); a jpeg85 corruption stays uint8
    engine = quiet(4)
    transform = ImageTransform("model", tiny.preprocess)
    kept = DecodedImages.decode(
        engine,
        dataset,
        transform,
        lambda x, i: run_attack(tiny, x, x.new_zeros(len(x)).long(), i, AttackConfig(steps=1, seed=0)),
    )
    assert {b[1].dtype for b in kept.batches} == {torch.float32}
    noisy = DecodedImages.decode(engine, dataset, transform, corruption_perturbation("gaussian_noise", 1, 0, "jpeg85"))
    assert {b[1].dtype for b in noisy.batches} == {torch.uint8}


@pytest.mark.parametrize(
    ("perturbation", "match"),
    [
        ("blur/3", "starts with one of generated, pgd, fgsm, autoattack"),
        ("generated/fog/9", "severity 1-5"),
        ("generated/smog/3", "corruptions: .*, fog,"),
        ("pgd/linf", r"pgd/<linf\|l2>/eps=<ε>"),
        ("pgd/l3/eps=1/255", r"pgd/<linf\|l2>"),
        ("pgd/linf/eps=1/255/restarts=2", r"\[/steps=<n>\]"),
    ],
)
def test_bad_perturbations_are_refused_before_any_model_loads(perturbation, match):
    with pytest.raises(BiasbenchError, match=match):
        Criticality.with_overrides({"perturbation": perturbation})
