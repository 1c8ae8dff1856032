"""Zero-shot CLIP through the probes: the label space a head gives, and a random-weight openclip: model running
shape-bias, accuracy and criticality end to end on the real cue-conflict and sample images, each number
checked against an independent computation (open_clip's own transform, by-hand decisions)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from PIL import Image

import biasbench
from biasbench.core.categories import CATEGORIES16
from biasbench.core.errors import HeadSizeError
from biasbench.data.datasets import load_dataset
from biasbench.data.labels.categories16 import CATEGORY_MEMBERS
from biasbench.data.labels.spaces import HeadSpace, label_space_for
from biasbench.engine import EngineConfig
from biasbench.models import load_model
from biasbench.models.layers import learnable_layers
from biasbench.store.results import ResultsStore
from tests.conftest import TINY_CLIP, require

IMAGENET_HEAD = f"{TINY_CLIP}&templates=photo"  # 1000 ImageNet classes, one prompt each: cheap to embed
STUDY_HEAD = f"{TINY_CLIP}&head=categories16"  # the 16 category names under CLIP's 80 templates
LIMIT = 160  # the first two cue-conflict shape folders; the first 160 sample images


def test_a_head_over_the_categories_scores_cue_conflict_directly(generated_root):
    cue = load_dataset("cue-conflict", generated_root)
    space = label_space_for(cue, "categories16")
    assert isinstance(space, HeadSpace) and space.num_logits == 16 and not space.labels_are_imagenet
    logits = torch.randn(4, 16, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(space.probabilities(logits), torch.softmax(logits, dim=1))
    labels = torch.tensor([0, 5, 9, 15])
    out = space.outputs(logits, labels, k=16)
    assert torch.equal(out["topk"][:, 0].long(), logits.argmax(1))
    assert torch.allclose(out["p_label"], torch.softmax(logits, 1)[torch.arange(4), labels])
    assert label_space_for(cue).name == "categories16" and not isinstance(label_space_for(cue), HeadSpace)
    with pytest.raises(HeadSizeError, match=r"imagenet-sample is scored in the imagenet label space.*\?head=imagenet"):
        label_space_for(load_dataset("imagenet-sample", generated_root), "categories16")


@pytest.fixture(scope="module")
def zero_shot_run(data_root, open_clip_tiny, tmp_path_factory):
    require(data_root, "texture-vs-shape/stimuli/style-transfer-preprocessed-512")
    require(data_root, "imagenet-sample-images/labels.csv")
    out = tmp_path_factory.mktemp("zero_shot_run")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BIASBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "biasbench_cache"))
        records = biasbench.run(
            {"clip-imagenet": IMAGENET_HEAD, "clip-16": STUDY_HEAD},
            ["shape-bias", "accuracy", "criticality", "adversarial"],
            out,
            datasets=["imagenet-sample"],  # shape-bias keeps its own stimuli
            data_root=data_root,
            params={
                "criticality": {"num_images": 12, "trials": 1, "layers": "visual.conv1,*.mlp.c_fc,visual.proj"},
                "adversarial": {"steps": 3, "epsilon": "4/255"},
            },
            limit=LIMIT,
            limit_mode="first",  # the by-hand checks read the first LIMIT files
            engine=EngineConfig(progress=False, batch_size=40),
            report=lambda m: None,
        )
        models = {"clip-imagenet": load_model(IMAGENET_HEAD), "clip-16": load_model(STUDY_HEAD)}
    return records, out, models


def values(records, model, probe, metric):
    rows = records[(records.model == model) & (records.probe == probe) & (records.metric == metric)]
    return dict(zip(rows.condition, rows.value, strict=True))


def test_the_run_finished_every_job_and_states_the_head(zero_shot_run):
    records, out, _ = zero_shot_run
    # the 16-category head cannot score ImageNet labels: its accuracy and criticality jobs fail, saying so
    failed = {(job.model, job.probe): str(error) for job, error in records.summary.failed}
    assert set(failed) == {("clip-16", "accuracy"), ("clip-16", "criticality"), ("clip-16", "adversarial")}
    assert all("a zero-shot openclip: model with ?head=imagenet" in message for message in failed.values())
    jobs = {(m["model"], m["probe"]): m for m in ResultsStore(out).manifests()}
    probes = ("shape-bias", "accuracy", "criticality", "adversarial")
    assert set(jobs) == {("clip-imagenet", p) for p in probes} | {("clip-16", "shape-bias")}
    for (model, _), manifest in jobs.items():
        info = manifest["model_info"]
        assert (info["head"], info["templates"]) == (
            ("imagenet", "photo") if model == "clip-imagenet" else ("categories16", "openai80")
        )
        assert info["arch"] == "test-clip-vit" and info["pretrained"] == "none" and info["text_cache"]


def test_shape_bias_decisions_match_by_hand(zero_shot_run, data_root):
    records, _, models = zero_shot_run
    stimuli = sorted((data_root / "texture-vs-shape/stimuli/style-transfer-preprocessed-512").rglob("*.png"))[:LIMIT]
    x = torch.stack([torch.from_numpy(np.array(Image.open(p).convert("RGB"))).permute(2, 0, 1) for p in stimuli])
    for name, model in models.items():
        with torch.no_grad():
            logits = model(x.float() / 255).double()
        if model.head == "categories16":  # the study's decision: the arg-max over the 16 names
            decisions = logits.argmax(1).tolist()
        else:  # model-vs-human's: the mean soft-max probability over each category's ImageNet members
            probs = torch.softmax(logits, 1)
            means = torch.stack([probs[:, list(CATEGORY_MEMBERS[c])].mean(1) for c in CATEGORIES16], 1)
            decisions = means.argmax(1).tolist()
        n_shape = n_texture = 0
        for d, path in zip(decisions, stimuli, strict=True):
            shape, texture = path.parent.name, path.stem.split("-")[-1].rstrip("0123456789")
            if shape != texture:
                n_shape += CATEGORIES16[d] == shape
                n_texture += CATEGORIES16[d] == texture
        got = values(records, name, "shape-bias", "n_shape")[""], values(records, name, "shape-bias", "n_texture")[""]
        assert got == (n_shape, n_texture), name
        assert values(records, name, "shape-bias", "shape_bias")[""] == pytest.approx(n_shape / (n_shape + n_texture))


def test_only_a_1000_class_head_gets_the_ranking_based_shape_bias(zero_shot_run):
    records, _, _ = zero_shot_run
    # REFINED-BIAS ranks a category among all 1000 ImageNet classes: a head over the 16 names has no such ranking
    for metric in ("shape_mrr", "texture_mrr", "shape_bias_mrr"):
        assert set(values(records, "clip-imagenet", "shape-bias", metric)) == {""}
        assert values(records, "clip-16", "shape-bias", metric) == {}


def test_accuracy_matches_open_clips_own_pipeline(zero_shot_run, data_root, open_clip_tiny):
    records, out, models = zero_shot_run
    _, _, preprocess_val = open_clip_tiny.create_model_and_transforms("test-clip-vit")
    folder = data_root / "imagenet-sample-images"
    with (folder / "labels.csv").open() as f:
        rows = list(csv.DictReader(f))[:LIMIT]
    model = models["clip-imagenet"]
    x = torch.stack([preprocess_val(Image.open(folder / "images" / r["filename"])) for r in rows])
    labels = torch.tensor([int(r["class_index"]) for r in rows])
    with torch.no_grad():
        probs = torch.softmax(model.net(x).double(), 1)  # open_clip's ToTensor + Normalize, then the head
    job = records[(records.model == "clip-imagenet") & (records.probe == "accuracy")].job.iloc[0]
    samples = ResultsStore(out).samples(job).set_index("file").loc[[f"images/{r['filename']}" for r in rows]]
    # a random model is right by chance only, so compare every image's prediction and p(label)
    assert [int(t[0]) for t in samples["topk"]] == probs.argmax(1).tolist()
    assert np.allclose(samples["p_label"], probs[torch.arange(len(rows)), labels].numpy(), rtol=1e-4, atol=1e-7)
    hits = probs.argmax(1) == labels
    assert values(records, "clip-imagenet", "accuracy", "top1")[""] == pytest.approx(hits.double().mean().item())


def test_criticality_groups_the_tower_into_its_stages(zero_shot_run):
    records, _, models = zero_shot_run
    crit = values(records, "clip-imagenet", "criticality", "criticality")
    layers = learnable_layers(models["clip-imagenet"].net, ["visual.conv1", "*.mlp.c_fc", "visual.proj"])
    assert layers == [
        "visual.conv1",
        "visual.transformer.resblocks.0.mlp.c_fc",
        "visual.transformer.resblocks.1.mlp.c_fc",
        "visual.proj",
    ]
    assert set(crit) == set(layers) and all(0 < v <= 100 for v in crit.values())
    stages = values(records, "clip-imagenet", "criticality", "stage_index")
    assert stages == {"patch_embed": 0, "blocks.0": 1, "blocks.1": 2, "head": 3}
    stage_crit = values(records, "clip-imagenet", "criticality", "stage_criticality")
    assert stage_crit["head"] == pytest.approx(crit["visual.proj"])
    assert stage_crit["blocks.0"] == pytest.approx(crit["visual.transformer.resblocks.0.mlp.c_fc"])


def test_attacks_reach_the_image_through_the_zero_shot_head(zero_shot_run):
    records, out, _ = zero_shot_run
    job = records[(records.model == "clip-imagenet") & (records.probe == "adversarial")].job.iloc[0]
    samples = ResultsStore(out).samples(job)
    clean = samples[samples.condition == "clean"].set_index("index")
    attacked = samples[samples.condition == "pgd/linf/eps=4/255"].set_index("index").loc[clean.index]
    # PGD ascends the cross-entropy through the image tower: p(label) falls on (nearly) every image
    assert (attacked.p_label < clean.p_label).mean() > 0.9
    assert (
        values(records, "clip-imagenet", "adversarial", "robust_accuracy")["pgd/linf/eps=4/255"]
        <= values(records, "clip-imagenet", "adversarial", "top1")[""]
    )
