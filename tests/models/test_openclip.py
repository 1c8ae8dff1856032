"""The openclip: source and its zero-shot head: spec errors before any model loads, the offline weights cache,
fingerprints, the text-embedding cache, and the prompt ensemble against a by-hand computation and against
open_clip's own ``build_zero_shot_classifier`` (tiny random architectures, tests/conftest.py)."""

from __future__ import annotations

import pytest
import torch

from biasbench.core.categories import CATEGORIES16
from biasbench.core.errors import BiasbenchError, ModelLoadError, UnknownNameError
from biasbench.models import ModelSpec, load_model, model_fingerprint
from biasbench.models.sources import MODEL_SOURCES, model_preprocess, seeded_init
from tests.conftest import TINY_CLIP

pytestmark = pytest.mark.usefixtures("zero_shot_cache")
STUDY16 = f"{TINY_CLIP}&head=categories16"  # the 2025 study's head: the 16 category names, 80 templates


def reference_clip(open_clip, arch: str = "test-clip-vit"):
    """The CLIP model ``openclip:ARCH?pretrained=none`` is built from: open_clip's own constructor under the
    source's documented seeding (architecture and seed only)."""
    rng = seeded_init(ModelSpec("openclip", arch, {"pretrained": "none", "seed": "0"}))
    try:
        return open_clip.create_model(arch).eval()
    finally:
        rng.__exit__(None, None, None)


def by_hand_ensemble(open_clip, clip, names, templates, arch: str = "test-clip-vit") -> torch.Tensor:
    """(classes, dim) float64: per class, one text-tower pass over its prompts (the template callables of
    open_clip.zero_shot_metadata, or format strings), each embedding over its norm, their mean over its norm."""
    tokenize = open_clip.get_tokenizer(arch)
    rows = []
    for name in names:
        prompts = [t(name) if callable(t) else t.format(name) for t in templates]
        with torch.no_grad():
            e = clip.encode_text(tokenize(prompts)).double()
        mean = (e / e.norm(dim=1, keepdim=True)).mean(dim=0)
        rows.append(mean / mean.norm())
    return torch.stack(rows)


def by_hand_logits(open_clip, clip, class_embeddings: torch.Tensor, x01: torch.Tensor) -> torch.Tensor:
    """logit_scale · image_emb · text_embᵀ on open_clip's normalisation of [0,1] images, in float64."""
    from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD

    mean = torch.tensor(OPENAI_DATASET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(OPENAI_DATASET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        f = clip.encode_image((x01 - mean) / std).double()
    return clip.logit_scale.exp().double() * (f / f.norm(dim=1, keepdim=True)) @ class_embeddings.T


def test_the_prompt_ensemble_equals_a_by_hand_computation_and_open_clips_own(open_clip_tiny):
    model = load_model(STUDY16)
    clip = reference_clip(open_clip_tiny)
    visual = {f"visual.{k}": v for k, v in clip.visual.state_dict().items()}
    assert all(torch.equal(v, visual[k]) for k, v in model.net.state_dict().items() if k.startswith("visual."))
    templates = open_clip_tiny.zero_shot_metadata.OPENAI_IMAGENET_TEMPLATES
    assert len(templates) == 80 and model.source["n_templates"] == 80
    expected = by_hand_ensemble(open_clip_tiny, clip, CATEGORIES16, templates)
    got = model.net.class_embeddings
    assert got.shape == (16, 16) and got.dtype == torch.float32
    assert torch.allclose(got.double(), expected, atol=2e-6, rtol=0)
    library = open_clip_tiny.build_zero_shot_classifier(
        clip, open_clip_tiny.get_tokenizer("test-clip-vit"), CATEGORIES16, templates, num_classes_per_batch=5
    )
    assert torch.allclose(got, library.T, atol=2e-6, rtol=0)
    # logits: the model's own logit scale (1/0.07 at open_clip's initialisation) on normalised embeddings
    assert model.source["logit_scale"] == pytest.approx(1 / 0.07, rel=1e-6)
    x = torch.rand(3, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logits = model(x).double()
    assert torch.allclose(logits, by_hand_logits(open_clip_tiny, clip, expected, x), atol=1e-4, rtol=1e-5)


def test_single_template_heads_and_the_imagenet_class_order(open_clip_tiny):
    clip = reference_clip(open_clip_tiny)
    photo = load_model(f"{STUDY16}&templates=photo")
    name = load_model(f"{STUDY16}&templates=name")
    custom = load_model(f"{STUDY16}&templates=a sketch of a {{}}.|a toy {{}}.")
    assert photo.source["n_templates"] == name.source["n_templates"] == 1 and custom.source["n_templates"] == 2
    for model, templates in (
        (photo, ["a photo of a {}."]),  # the study's "a photo of a CLS."
        (name, ["{}"]),  # the study's "CLS"
        (custom, ["a sketch of a {}.", "a toy {}."]),
    ):
        expected = by_hand_ensemble(open_clip_tiny, clip, CATEGORIES16, templates)
        assert torch.allclose(model.net.class_embeddings.double(), expected, atol=2e-6, rtol=0)
    imagenet = load_model(f"{TINY_CLIP}&templates=photo")  # head=imagenet is the default
    assert imagenet.head == "imagenet" and imagenet.net.class_embeddings.shape == (1000, 16)
    # columns in ImageNet index order: 0 tench, 404 airliner (the airplane category), 999 toilet paper
    for index, classname in ((0, "tench"), (404, "airliner"), (999, "toilet paper")):
        expected = by_hand_ensemble(open_clip_tiny, clip, [classname], ["a photo of a {}."])[0]
        assert torch.allclose(imagenet.net.class_embeddings[index].double(), expected, atol=2e-6, rtol=0)


def test_embeddings_are_cached_under_weights_classes_and_templates(zero_shot_cache, monkeypatch):
    first = load_model(f"{STUDY16}&templates=photo")
    path = zero_shot_cache / "zero-shot" / f"{first.source['text_cache']}.safetensors"
    assert path.is_file()

    def no_text_tower(*args, **kwargs):
        raise AssertionError("the class embeddings should come from the cache")

    monkeypatch.setattr("biasbench.models.openclip_source.prompt_ensemble", no_text_tower)
    again = load_model(f"{STUDY16}&templates=photo")
    assert torch.equal(again.net.class_embeddings, first.net.class_embeddings)
    assert again.source["text_cache"] == first.source["text_cache"]
    with pytest.raises(AssertionError, match="from the cache"):  # other templates: another key
        load_model(f"{STUDY16}&templates=a drawing of a {{}}.")
    with pytest.raises(AssertionError, match="from the cache"):  # other weights: another key
        load_model(f"{STUDY16}&templates=photo&seed=1")


def test_fingerprints_name_the_weights_and_the_head():
    specs = [f"{STUDY16}&templates=photo", f"{STUDY16}&templates=name", f"{TINY_CLIP}&templates=photo"]
    fingerprints = [model_fingerprint(s) for s in specs]
    assert len(set(fingerprints)) == 3
    model = load_model(specs[0])
    assert model.fingerprint == fingerprints[0] == model_fingerprint(specs[0])
    assert model.head == "categories16" and model.describe()["head"] == "categories16"
    assert model.describe()["templates"] == "photo" and model.describe()["pretrained"] == "none"
    # the towers depend on the architecture and seed only: every head of a random model shares them
    other = load_model(specs[2])
    assert torch.equal(model.net.visual.conv1.weight, other.net.visual.conv1.weight)


def test_gradients_reach_the_image_through_the_visual_tower_only():
    model = load_model(f"{STUDY16}&templates=photo")
    assert {name.split(".")[1] for name, _ in model.named_parameters()} == {"visual"}
    assert "net.class_embeddings" in dict(model.named_buffers())
    x = torch.rand(2, 3, 224, 224, requires_grad=True)
    model(x)[:, 3].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_random_weights_preprocess_like_open_clips_own_transform(open_clip_tiny):
    _, _, val = open_clip_tiny.create_model_and_transforms("test-clip-rn")
    resize, crop = val.transforms[:2]
    spec = "openclip:test-clip-rn?pretrained=none&head=categories16&templates=photo"
    pp = model_preprocess(spec)
    assert pp == load_model(spec).preprocess
    assert (pp.input_size, pp.crop_pct, pp.crop_mode) == ((224, 224), 1.0, "center")
    assert (resize.size, resize.interpolation.value, tuple(crop.size)) == (224, pp.interpolation, pp.input_size)


@pytest.mark.parametrize(
    ("spec", "error", "match"),
    [
        ("openclip:ViT-B-32", BiasbenchError, r"names no weights: write openclip:ViT-B-32/TAG \(tags: openai"),
        ("openclip:ViT-B-32/opena", UnknownNameError, "Did you mean 'openai'"),
        ("openclip:ViT-B-33/openai", UnknownNameError, "Did you mean 'ViT-B-32'"),
        ("openclip:ViT-B-32/openai?pretrained=none", BiasbenchError, "drop one"),
        ("openclip:ViT-B-32/openai?head=imagenet21k", UnknownNameError, "unknown zero-shot head 'imagenet21k'"),
        ("openclip:ViT-B-32/openai?templates=photos", UnknownNameError, "Did you mean 'photo'"),
        ("openclip:ViT-B-32/openai?templates=a {} and a {}", UnknownNameError, "one '{}' for the class name"),
        ("openclip:ViT-B-32/openai?pretrain=none", BiasbenchError, r"unknown option\(s\) \['pretrain'\]"),
    ],
)
def test_bad_specs_fail_before_any_weights_are_read(spec, error, match):
    with pytest.raises(error, match=match):
        model_fingerprint(spec)  # what planning calls first: nothing is loaded
    with pytest.raises(error, match=match):
        model_preprocess(spec)


def test_offline_missing_weights_say_where_to_put_them(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    spec = "openclip:ViT-B-32/openai"
    assert MODEL_SOURCES["openclip"].cached(ModelSpec.parse(spec)) is False
    for attempt in (model_fingerprint, load_model):
        with pytest.raises(ModelLoadError) as e:
            attempt(spec)
        message = str(e.value)
        assert f"local Hugging Face cache ({tmp_path / 'hub'})" in message
        assert "hf download timm/vit_base_patch32_clip_224.openai open_clip_pytorch_model.bin" in message
        assert "models--timm--vit_base_patch32_clip_224.openai" in message and "?pretrained=none" in message
    # the preprocessing needs no weights: it is the tag's own (OpenAI mean/std, bicubic, shortest side 224)
    assert model_preprocess(spec).input_size == (224, 224)


def place_in_hub_cache(hub, repo: str, filename: str, state: dict[str, torch.Tensor]) -> None:
    """A file laid out as huggingface_hub's cache keeps it (refs/main -> snapshots/<revision>/<file>)."""
    from safetensors.torch import save_file

    folder = hub / f"models--{repo.replace('/', '--')}"
    revision = "0" * 40
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(revision)
    (folder / "snapshots" / revision).mkdir(parents=True)
    save_file({k: v.half().contiguous() for k, v in state.items()}, folder / "snapshots" / revision / filename)


@pytest.mark.slow
def test_pretrained_tag_from_the_local_cache_as_open_clip_loads_it(open_clip_tiny, tmp_path, monkeypatch):
    """RN50/openai with weights laid into a temporary hub cache: biasbench reads them offline, builds the tag's
    QuickGELU model and preprocesses as ``create_model_and_transforms("RN50", pretrained="openai")``."""
    import huggingface_hub.constants
    from PIL import Image

    from biasbench.data.pixels.images import model_pixels

    hub = tmp_path / "hub"
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hub))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    torch.manual_seed(0)
    source = open_clip_tiny.create_model("RN50", force_quick_gelu=True)
    place_in_hub_cache(hub, "timm/resnet50_clip.openai", "open_clip_model.safetensors", source.state_dict())
    spec = "openclip:RN50/openai?head=categories16&templates=photo"
    model = load_model(spec)
    oracle, _, val = open_clip_tiny.create_model_and_transforms("RN50", pretrained="openai", force_quick_gelu=True)
    oracle.eval()
    assert model.source["quick_gelu"] is True and model.source["weights"].startswith(str(hub))
    assert all(torch.equal(v, oracle.visual.state_dict()[k]) for k, v in model.net.visual.state_dict().items())
    # the text tower is the QuickGELU one the OpenAI weights were trained with (open_clip 3.x only warns)
    expected = by_hand_ensemble(open_clip_tiny, oracle, CATEGORIES16, ["a photo of a {}."], "RN50")
    assert torch.allclose(model.net.class_embeddings.double(), expected, atol=2e-6, rtol=0)
    # pixels and normalisation of the library's own evaluation transform
    image = Image.fromarray(torch.randint(0, 256, (180, 260, 3), dtype=torch.uint8).numpy())
    *resize_crop, to_tensor, normalize = val.transforms
    x = image
    for step in resize_crop:
        x = step(x)
    assert torch.equal(model_pixels(image, model.preprocess).float() / 255, to_tensor(x))
    assert model.mean.flatten().tolist() == pytest.approx(list(normalize.mean))
    assert model.std.flatten().tolist() == pytest.approx(list(normalize.std))
    assert model.fingerprint == model_fingerprint(spec) != model_fingerprint(f"{TINY_CLIP}&head=categories16")


def test_an_image_of_another_size_than_the_tower_takes_is_a_clear_error():
    model = load_model(f"{STUDY16}&templates=photo")
    with pytest.raises(BiasbenchError, match="takes 224x224 images, got 160x160"):
        model(torch.rand(1, 3, 160, 160))
