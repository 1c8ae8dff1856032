"""``refined-bias`` probe and the ranking-based records of ``shape-bias``: MRRs by hand, against the authors'
ranking re-implemented (tests/data/test_ranks.py), and end to end on the real cue-conflict stimuli."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from biasbench.core.errors import DatasetError
from biasbench.data.datasets import load_dataset
from biasbench.data.labels.imagenet import imagenet_wnids
from biasbench.data.pixels.transforms import image_transform
from biasbench.engine import Engine, EngineConfig
from biasbench.models import load_model
from biasbench.probes import ProbeContext, get_probe
from biasbench.probes.refined_bias import cue_mrr_records, mrr_record
from tests.conftest import TINY_MODEL, require
from tests.data.test_ranks import authors_ranks
from tests.fixtures_layouts import make_refined_bias


def test_mrr_records_by_hand():
    rank_s, rank_t = np.array([1, 2, 4, 10]), np.array([2, 1, 1, 5])
    by = {r.metric: r for r in cue_mrr_records(rank_s, rank_t, seed=0, reps=500)}
    s, t = (1 + 1 / 2 + 1 / 4 + 1 / 10) / 4, (1 / 2 + 1 + 1 + 1 / 5) / 4
    assert by["shape_mrr"].value == pytest.approx(s) and by["texture_mrr"].value == pytest.approx(t)
    assert by["shape_bias_mrr"].value == pytest.approx(s / (s + t)) and by["shape_bias_mrr"].n == 4
    for r in by.values():
        assert r.ci_low <= r.value <= r.ci_high
    same = mrr_record("mrr", rank_s, seed=3, reps=200)
    assert (same.ci_low, same.ci_high) == (lambda r: (r.ci_low, r.ci_high))(mrr_record("mrr", rank_s, seed=3, reps=200))
    assert np.isnan(cue_mrr_records(np.array([]), np.array([]), reps=10)[2].value)


def _engine() -> Engine:
    return Engine(EngineConfig(device="cpu", batch_size=7, progress=False, num_workers=0))


def test_probe_matches_the_authors_ranking_on_a_generated_copy(tmp_path, tiny_model):
    make_refined_bias(tmp_path, per_class=2, size=40)
    dataset = load_dataset("refined-bias-texture", tmp_path)
    out = get_probe("refined-bias")().run(ProbeContext(tiny_model, dataset, _engine()))
    by = {(r.metric, r.condition): r for r in out.records}
    # independently: the model on each image, the authors' sort of the softmax and first-occurrence rank
    transform = image_transform(dataset, tiny_model.preprocess)
    with torch.no_grad():
        logits = tiny_model(torch.stack([transform(s.path) for s in dataset.samples]).float() / 255)
    spec = dataset.spec
    names = spec.class_names()
    id_to_class = {w: n for n in names for w in spec.classes[n]}
    truth = [names[s.label] for s in dataset.samples]
    theirs = authors_ranks(torch.softmax(logits.double(), 1).numpy(), id_to_class, truth)
    np.testing.assert_array_equal(out.samples["rank"].to_numpy(), theirs)
    assert by[("mrr", "")].value == pytest.approx(np.mean(1 / theirs)) and by[("mrr", "")].n == 20
    assert by[("top1", "")].value == np.mean(theirs == 1)
    zebra = [i for i, s in enumerate(dataset.samples) if names[s.label] == "zebra"]
    assert by[("mrr", "class/zebra")].value == pytest.approx(np.mean(1 / theirs[zebra]))
    assert out.notes["cue"] == "texture"


def test_probe_refuses_datasets_without_class_groups(generated_root, tiny_model):
    with pytest.raises(DatasetError, match="refined-bias-shape or refined-bias-texture"):
        get_probe("refined-bias")().run(
            ProbeContext(tiny_model, load_dataset("cue-conflict", generated_root).head(4), _engine())
        )


def cue_conflict_expected(model, dataset) -> tuple[np.ndarray, np.ndarray]:
    """Shape and texture ranks of every image by the authors' rule (16 categories as the class groups)."""
    from biasbench.data.labels.categories16 import CATEGORIES16, CATEGORY_MEMBERS

    transform = image_transform(dataset, model.preprocess)
    with torch.no_grad():
        logits = model(torch.stack([transform(s.path) for s in dataset.samples]).float() / 255)
    wnids = imagenet_wnids()
    id_to_class = {wnids[m]: c for c in CATEGORIES16 for m in CATEGORY_MEMBERS[c]}
    probs = torch.softmax(logits.double(), 1).numpy()
    shape = authors_ranks(probs, id_to_class, [CATEGORIES16[s.label] for s in dataset.samples])
    texture = authors_ranks(probs, id_to_class, [CATEGORIES16[s.meta["texture"]] for s in dataset.samples])
    return shape, texture


def _shape_bias_run(model, dataset):
    out = get_probe("shape-bias")().run(ProbeContext(model, dataset, _engine()))
    by = {r.metric: r for r in out.records}
    conflict = out.samples["label"].to_numpy() != out.samples["texture"].to_numpy()
    return out, by, conflict


def test_shape_bias_stores_ranks_on_the_real_stimuli_tiny_model(data_root):
    require(data_root, "texture-vs-shape/stimuli/style-transfer-preprocessed-512")
    model = load_model(TINY_MODEL)
    dataset = load_dataset("cue-conflict", data_root).head(40)
    out, by, conflict = _shape_bias_run(model, dataset)
    shape, texture = cue_conflict_expected(model, dataset)
    np.testing.assert_array_equal(out.samples["rank_shape"].to_numpy(), shape)
    np.testing.assert_array_equal(out.samples["rank_texture"].to_numpy(), texture)
    s, t = np.mean(1 / shape[conflict]), np.mean(1 / texture[conflict])
    assert by["shape_mrr"].value == pytest.approx(s) and by["texture_mrr"].value == pytest.approx(t)
    assert by["shape_bias_mrr"].value == pytest.approx(s / (s + t)) and by["shape_bias_mrr"].n == conflict.sum()
