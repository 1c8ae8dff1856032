"""Checkpoint format adapters: synthetic checkpoints in each published layout load back exactly."""

from __future__ import annotations

import pytest
import torch

from biasbench.core.errors import ModelLoadError
from biasbench.models.checkpoints import CHECKPOINT_FORMATS, convert_checkpoint, load_into, read_checkpoint


def tiny_resnet() -> torch.nn.Module:
    """A timm ResNet with ResNet-50's key structure (bottlenecks, downsample, fc) but tiny widths."""
    from timm.models.resnet import Bottleneck, ResNet

    import biasbench.models  # noqa: F401  (torchvision shim before timm)

    return ResNet(Bottleneck, [2, 1, 1, 1], channels=(4, 8, 16, 32), stem_width=8, num_classes=10)


@pytest.fixture
def reference() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    state = tiny_resnet().state_dict()
    return {
        k: torch.randint(0, 99, v.shape, generator=g) if v.dtype == torch.long else torch.randn(v.shape, generator=g)
        for k, v in state.items()
    }


def assert_loads_exactly(state: dict, reference: dict) -> None:
    net = load_into(tiny_resnet(), state)
    for key, value in net.state_dict().items():
        assert torch.equal(value, reference[key]), key


def to_simclr_tf(state: dict) -> dict:
    """The TF-converted SimCLRv2 naming, written out independently of the adapter's regexes."""
    stem = {"conv1": "net.0.0", "bn1": "net.0.1.0"}
    block = {
        "conv1": "net.0",
        "bn1": "net.1.0",
        "conv2": "net.2",
        "bn2": "net.3.0",
        "conv3": "net.4",
        "bn3": "net.5.0",
        "downsample.0": "projection.shortcut",
        "downsample.1": "projection.bn.0",
    }
    out = {}
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] in stem:
            out[f"{stem[parts[0]]}.{parts[1]}"] = value
        elif parts[0].startswith("layer"):
            layer = ".".join(parts[2:-1])
            out[f"net.{parts[0][5:]}.blocks.{parts[1]}.{block[layer]}.{parts[-1]}"] = value
        else:
            out[key] = value
    return out


def test_plain_state_dict_with_wrappers_and_prefixes(reference):
    wrapped = {"epoch": 90, "arch": "resnet50", "state_dict": {f"module.{k}": v for k, v in reference.items()}}
    assert_loads_exactly(CHECKPOINT_FORMATS["state_dict"].convert([wrapped]), reference)
    model_prefixed = {"model": {f"model.{k}": v for k, v in reference.items()}}
    assert_loads_exactly(CHECKPOINT_FORMATS["state_dict"].convert([model_prefixed]), reference)


def test_madry_keeps_model_drops_attacker_and_normalizer(reference):
    state = {f"module.model.{k}": v for k, v in reference.items()}
    state |= {f"module.attacker.model.{k}": torch.zeros_like(v) for k, v in reference.items()}
    state |= {"module.normalizer.new_mean": torch.zeros(3, 1, 1), "module.attacker.normalize.new_std": torch.ones(3)}
    assert_loads_exactly(CHECKPOINT_FORMATS["madry"].convert([{"model": state, "epoch": 90}]), reference)
    with pytest.raises(ModelLoadError, match="module.model."):
        CHECKPOINT_FORMATS["madry"].convert([{"model": reference}])


def test_tsbias_drops_auxiliary_batchnorms(reference):
    state = {f"module.{k}": v for k, v in reference.items()}
    state |= {
        f"module.{k.replace('bn1.', 'bn1.aux_bn.')}": torch.zeros_like(v) for k, v in reference.items() if ".bn1." in k
    }
    assert_loads_exactly(CHECKPOINT_FORMATS["tsbias"].convert([{"state_dict": state}]), reference)


@pytest.mark.parametrize("fmt", ["dino", "swav"])
def test_ssl_backbone_plus_linear_head(reference, fmt):
    backbone = {k: v for k, v in reference.items() if not k.startswith("fc.")}
    if fmt == "swav":  # DDP prefix, projection head and prototypes in the pretraining file
        backbone = {f"module.{k}": v for k, v in backbone.items()}
        backbone |= {"module.projection_head.0.weight": torch.zeros(4, 32), "module.prototypes.weight": torch.zeros(5)}
    head = {"state_dict": {"module.linear.weight": reference["fc.weight"], "module.linear.bias": reference["fc.bias"]}}
    assert CHECKPOINT_FORMATS[fmt].files == ("weights", "head")
    assert_loads_exactly(CHECKPOINT_FORMATS[fmt].convert([backbone, head]), reference)


def test_simclrv2_tf_layout(reference):
    converted = CHECKPOINT_FORMATS["simclrv2_tf"].convert([{"resnet": to_simclr_tf(reference), "head": {}}])
    assert "layer1.0.downsample.1.running_var" in converted
    assert_loads_exactly(converted, reference)
    with pytest.raises(ModelLoadError, match="does not fit"):
        CHECKPOINT_FORMATS["simclrv2_tf"].convert([{"resnet": {"net.9.weird": torch.zeros(1)}}])


def test_files_round_trip_weights_only(tmp_path, reference):
    backbone, head = tmp_path / "backbone.pth", tmp_path / "head.pth.tar"
    torch.save({k: v for k, v in reference.items() if not k.startswith("fc.")}, backbone)
    torch.save(
        {
            "state_dict": {"module.linear.weight": reference["fc.weight"], "module.linear.bias": reference["fc.bias"]},
            "epoch": 100,
        },
        head,
    )
    assert_loads_exactly(convert_checkpoint("dino", [backbone, head]), reference)
    with pytest.raises(ModelLoadError, match=r"reads 2 file"):
        convert_checkpoint("dino", [backbone])


def test_load_into_reports_mismatches_and_tolerates_missing_counters(reference):
    no_counters = {k: v for k, v in reference.items() if not k.endswith("num_batches_tracked")}
    load_into(tiny_resnet(), no_counters)
    broken = dict(no_counters)
    del broken["layer2.0.conv2.weight"]
    broken["extra.weight"] = torch.zeros(1)
    with pytest.raises(ModelLoadError, match=r"missing: layer2.0.conv2.weight; unexpected: extra.weight"):
        load_into(tiny_resnet(), broken)


def test_web_page_is_not_read_as_a_checkpoint(tmp_path):
    page = tmp_path / "weights.pth"
    page.write_text("<!DOCTYPE html><html><title>Google Drive - Virus scan warning</title></html>")
    with pytest.raises(ModelLoadError, match="web page"):
        read_checkpoint(page)
