"""Zoo files (the CVPR 2024 and layer-criticality ResNet-50s, the demo zoo) and the zoo: source."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
import torch

from biasbench.core.errors import ModelLoadError
from biasbench.models import MODEL_SOURCES, ModelSpec, load_model
from biasbench.models.checkpoints import CHECKPOINT_FORMATS
from biasbench.models.zoo import load_zoo
from biasbench.models.zoo_source import NORMALISATIONS, ZooSource, describe_zoo, find_entry, remote_files
from tests.conftest import require

STUDIES = {"gavrikov2024": "biases-vs-generalization", "layer_criticality2024": "layer-criticality"}


def test_study_zoos_have_the_published_counts():
    cvpr = load_zoo("gavrikov2024").models
    counts = {c: sum(e.category == c for e in cvpr) for c in {e.category for e in cvpr}}
    assert counts == {
        "baseline": 1,
        "training_recipes": 10,
        "augmentation": 12,
        "stylized": 3,
        "freezing": 1,
        "adversarial_training": 15,
        "contrastive": 6,
    }
    lc = {e.id: e for e in load_zoo("layer_criticality2024").models}
    assert len(lc) == 51 and lc["resnet50_trained_on_SIN"].category == "augmentation"
    assert lc["resnet50_trained_on_SIN"].source == "zoo:resnet50_trained_on_SIN"  # inherited, category overridden
    assert lc["resnet50.randaugment_270ep"].extra["sha256"] == "e38097c7"


@pytest.mark.realdata
@pytest.mark.parametrize("zoo", STUDIES)
def test_ids_and_categories_match_the_released_category_files(data_root, zoo):
    released = json.loads(require(data_root, f"{STUDIES[zoo]}/r50_categories.json").read_text())
    expected = {model: category for category, models in released.items() for model in models}
    assert {e.id: e.category for e in load_zoo(zoo).models} == expected


@pytest.mark.parametrize("zoo", ["gavrikov2024", "layer_criticality2024", "demo"])
def test_every_entry_is_a_loadable_spec(zoo):
    for entry in load_zoo(zoo).models:
        assert ModelSpec.parse(entry.id).text == ModelSpec.parse(entry.source).text
        assert ModelSpec.parse(entry.source).source in MODEL_SOURCES
        assert entry.citation, entry.id
        assert zoo == "demo" or entry.extra.get("method"), entry.id
        if entry.source.startswith("zoo:"):
            assert entry.extra["format"] in CHECKPOINT_FORMATS and entry.extra["normalize"] in NORMALISATIONS
            assert re.fullmatch(r"|[0-9a-f]{8}|[0-9a-f]{64}", entry.extra.get("sha256", "")), entry.id
            assert len(remote_files(entry)) == len(CHECKPOINT_FORMATS[entry.extra["format"]].files)


def test_normalisation_and_formats_follow_the_study_code():
    zoo = {e.id: e.extra for e in load_zoo("gavrikov2024").models}
    assert {i for i, x in zoo.items() if x.get("normalize") == "none"} == {
        "resnet50_simclrv2",
        "resnet50_diffusionnoise_fixed_nonoise",
    }
    assert {x["format"] for i, x in zoo.items() if i.startswith("robust_")} == {"madry"}
    assert zoo["resnet50_simclrv2"]["format"] == "simclrv2_tf" and zoo["resnet50_dino"]["format"] == "dino"


def test_remote_locations(monkeypatch, tmp_path):
    monkeypatch.setenv("BIASBENCH_CACHE", str(tmp_path))
    (robust,) = remote_files(find_entry(ModelSpec.parse("robust_resnet50_linf_eps4.0")))
    assert robust.url == "https://huggingface.co/madrylab/robust-imagenet-models/resolve/main/resnet50_linf_eps4.0.ckpt"
    assert robust.path == tmp_path / "checkpoints" / "robust_resnet50_linf_eps4.0" / "resnet50_linf_eps4.0.ckpt"
    (drive,) = remote_files(find_entry(ModelSpec.parse("resnet50_pixmix_90ep")))
    assert drive.url.endswith("id=1_i45yvC88hos50QjkoD97OgbDGreKdp9&export=download&confirm=t")
    assert drive.path.name == "weights.pth"
    backbone, head = remote_files(find_entry(ModelSpec.parse("resnet50_swav")))
    assert head.path.name == "swav_800ep_eval_linear.pth.tar"


def test_demo_zoo_has_eight_real_models():
    demo = describe_zoo("demo")
    assert len(demo) == 8 and list(demo.columns) == ["id", "category", "method", "source", "cached", "citation"]
    assert (demo.category == "mobilenet_tflite").sum() == 5


@pytest.fixture
def user_zoo(tmp_path, monkeypatch):
    """A user zoo file with one file:// checkpoint (test_resnet with a DataParallel prefix) and one remote one."""
    from biasbench.models.timm_source import import_timm

    monkeypatch.setenv("BIASBENCH_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)
    state = import_timm().create_model("test_resnet", pretrained=False).state_dict()
    ckpt = tmp_path / "tiny.pth.tar"
    torch.save({"epoch": 1, "state_dict": {f"module.{k}": v for k, v in state.items()}}, ckpt)
    sha = hashlib.sha256(ckpt.read_bytes()).hexdigest()
    zoo = tmp_path / "mine.toml"
    zoo.write_text(f"""
[zoo]
name = "mine"
[[model]]
id = "my_tiny"
source = "zoo:my_tiny?zoo={zoo}"
method = "test"
arch = "test_resnet"
format = "state_dict"
normalize = "none"
url = "{ckpt.as_uri()}"
sha256 = "{sha}"
[[model]]
id = "remote_tiny"
source = "zoo:remote_tiny?zoo={zoo}"
arch = "test_resnet"
url = "https://example.invalid/weights/remote_tiny.pth"
""")
    return zoo, state, ckpt


def test_zoo_source_downloads_verifies_and_loads(user_zoo, tmp_path):
    zoo, state, _ = user_zoo
    spec = ModelSpec.parse(f"zoo:my_tiny?zoo={zoo}")
    assert ZooSource().cached(spec) is False
    model = load_model(spec)
    for key, value in model.net.state_dict().items():
        assert torch.equal(value, state[key]), key
    assert model.mean.flatten().tolist() == [0, 0, 0] and model.std.flatten().tolist() == [1, 1, 1]
    assert (tmp_path / "cache" / "checkpoints" / "my_tiny" / "tiny.pth.tar").is_file()
    assert ZooSource().cached(spec) is True and describe_zoo(str(zoo)).cached.tolist() == [True, False]
    assert model.fingerprint == ZooSource().fingerprint(spec)


def test_zoo_source_offline_says_where_to_place_the_file(user_zoo, tmp_path, monkeypatch):
    zoo, _, ckpt = user_zoo
    monkeypatch.setenv("BIASBENCH_OFFLINE", "1")
    target = tmp_path / "cache" / "checkpoints" / "remote_tiny" / "remote_tiny.pth"
    with pytest.raises(ModelLoadError, match=f"place it at {re.escape(str(target))}"):
        load_model(f"zoo:remote_tiny?zoo={zoo}")
    target.parent.mkdir(parents=True)
    target.write_bytes(ckpt.read_bytes())  # placed by hand: used without any network
    assert load_model(f"zoo:remote_tiny?zoo={zoo}").mean.flatten().tolist() == pytest.approx([0.485, 0.456, 0.406])
