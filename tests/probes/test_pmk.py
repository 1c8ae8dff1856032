"""pm-k on a constructed anchor/neighbour table, the video adapters on layout fixtures (ImageNet-Vid-Robust,
YTBB-Robust), the max-merge label spaces, and the probe end to end."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from biasbench.core.errors import DatasetError
from biasbench.data.datasets import get_dataset_spec
from biasbench.data.labels.spaces import label_space_for
from biasbench.engine.inference import Engine, EngineConfig
from biasbench.probes import ProbeContext, get_probe
from biasbench.probes.pm_k import pm_k
from tests.fixtures_layouts import make_imagenet_vid_robust, make_ytbb_robust

PMSETS = {
    "a": ((-3, "a-3"), (2, "a+2"), (10, "a+10")),  # one wrong neighbour at +10 only
    "b": (),  # no neighbours: counts on itself
    "c": ((1, "c+1"),),  # wrong anchor, right neighbour
    "d": ((-1, "d-1"),),  # right anchor, wrong neighbour
}
CORRECT = {"a": True, "a-3": True, "a+2": True, "a+10": False, "b": True, "c": False, "c+1": True, "d": True,
           "d-1": False}  # fmt: skip


def test_pm_k_on_a_constructed_table():
    r10 = pm_k(CORRECT, PMSETS, 10)
    assert r10.anchors == ["a", "b", "c", "d"]
    np.testing.assert_array_equal(r10.anchor_correct, [True, True, False, True])
    np.testing.assert_array_equal(r10.pmk_correct, [False, True, False, False])
    r5 = pm_k(CORRECT, PMSETS, 5)  # the +10 neighbour no longer counts
    np.testing.assert_array_equal(r5.pmk_correct, [True, True, False, False])
    r0 = pm_k(CORRECT, PMSETS, 0)  # pm-0 is the anchor accuracy
    np.testing.assert_array_equal(r0.pmk_correct, r0.anchor_correct)


def test_pm_k_drops_anchors_with_missing_frames_and_needs_offsets_below_ten():
    partial = {k: v for k, v in CORRECT.items() if k != "a+2"}
    r = pm_k(partial, PMSETS, 10)
    assert r.dropped == ["a"] and r.anchors == ["b", "c", "d"]
    assert pm_k(partial, PMSETS, 1).anchors == ["a", "b", "c", "d"]  # a+2 is outside ±1
    unknown = {"a": ((None, "a-3"),)}
    assert pm_k(CORRECT, unknown, 10).pmk_correct.tolist() == [True]
    with pytest.raises(DatasetError, match="no frame offset"):
        pm_k(CORRECT, unknown, 5)


def test_imagenet_vid_robust_layout(tmp_path):
    make_imagenet_vid_robust(tmp_path)
    ds = get_dataset_spec("imagenet-vid-robust").load(tmp_path)
    by_key = {s.meta["key"]: s for s in ds.samples}
    assert sorted(by_key) == ["val/snipA/000005.JPEG", "val/snipA/000010.JPEG", "val/snipA/000014.JPEG",
                              "val/snipB/000020.JPEG"]  # fmt: skip
    anchor = by_key["val/snipA/000010.JPEG"]
    assert anchor.meta["anchor"] and anchor.meta["pmset"] == ((-5, "val/snipA/000005.JPEG"),
                                                              (4, "val/snipA/000014.JPEG"))  # fmt: skip
    assert (
        by_key["val/snipA/000014.JPEG"].meta["labels"] == (0, 1) and not by_key["val/snipA/000014.JPEG"].meta["anchor"]
    )
    assert by_key["val/snipB/000020.JPEG"].meta["pmset"] == ()
    (ds.folder / "val/snipA/000005.JPEG").unlink()
    with pytest.raises(DatasetError, match="missing"):
        get_dataset_spec("imagenet-vid-robust").load(tmp_path)


def test_ytbb_robust_layout_follows_the_review_filters_and_the_label_swap(tmp_path):
    make_ytbb_robust(tmp_path)
    ds = get_dataset_spec("ytbb-robust").load(tmp_path)
    by_key = {s.meta["key"]: s for s in ds.samples}
    assert sorted(by_key) == ["vidA_1000/frame-10.jpg", "vidA_1000/frame-12.jpg", "vidA_1000/frame-5.jpg",
                              "vidB_2000/frame-10.jpg"]  # fmt: skip
    a = by_key["vidA_1000/frame-10.jpg"]
    assert a.meta["labels"] == (3, 23)  # CSV 22 swapped to 23, plus class3 added in review
    assert a.meta["pmset"] == ((-5, "vidA_1000/frame-5.jpg"), (2, "vidA_1000/frame-12.jpg"))  # -1 was dissimilar
    assert by_key["vidA_1000/frame-12.jpg"].meta["labels"] == (3, 23)  # neighbours take the anchor's labels
    assert by_key["vidB_2000/frame-10.jpg"].meta == {"key": "vidB_2000/frame-10.jpg", "labels": (5,), "anchor": True,
                                                     "pmset": ()}  # fmt: skip


def test_max_merge_spaces(tmp_path):
    from biasbench.data.labels.imagenet import wnid_to_index

    make_imagenet_vid_robust(tmp_path)
    make_ytbb_robust(tmp_path)
    vid = label_space_for(get_dataset_spec("imagenet-vid-robust").load(tmp_path))
    idx = wnid_to_index()
    assert vid.groups == (tuple(sorted((idx["n02690373"], idx["n04552348"]))), (idx["n01530575"],))
    logits = torch.zeros(2, 1000)
    logits[0, idx["n04552348"]], logits[0, idx["n01530575"]] = 5.0, 4.0  # airplane member wins
    logits[1, idx["n02690373"]], logits[1, idx["n01530575"]] = 1.0, 2.0  # bird
    logits[:, 7] = 100.0  # a non-member class is ignored
    probs = vid.probabilities(logits)
    np.testing.assert_allclose(probs[0].numpy(), torch.softmax(torch.tensor([5.0, 4.0]), 0).numpy(), rtol=1e-6)
    assert probs.argmax(1).tolist() == [0, 1]
    ytbb = label_space_for(get_dataset_spec("ytbb-robust").load(tmp_path))
    assert len(ytbb.groups) == 24 and ytbb.groups[22] == () and ytbb.groups[3] == (404, 895)
    assert ytbb.probabilities(torch.zeros(1, 1000))[0, 22] == 0  # "none" is never predicted
    samples = get_dataset_spec("ytbb-robust").load(tmp_path).samples
    topk = np.array([[23], [3], [5], [0]])
    assert ytbb.hits(topk, samples, 1).tolist() == [True, True, False, False]  # multi-label (3, 23)


class _Fixed(torch.nn.Module):
    """Logits that depend on the image's mean intensity only, so predictions per frame are deterministic."""

    def forward(self, x):
        logits = torch.zeros(x.shape[0], 1000)
        logits[:, 404] = x.mean((1, 2, 3)) * 10
        logits[:, 1] = 5.0
        return logits


def test_pmk_probe_end_to_end(tmp_path):
    from biasbench.models.wrapper import Classifier

    make_ytbb_robust(tmp_path)
    ds = get_dataset_spec("ytbb-robust").load(tmp_path)
    engine = Engine(EngineConfig(device="cpu", batch_size=8, progress=False, num_workers=0))
    model = Classifier(_Fixed(), name="fixed", mean=(0, 0, 0), std=(1, 1, 1))
    out = get_probe("pm-k")().run(ProbeContext(model, ds, engine))
    by = {r.metric: r for r in out.records}
    frame = out.samples
    pred = dict(zip(frame["file"], frame["topk"].map(lambda t: int(t[0])), strict=True))
    labels = {s.path.relative_to(ds.folder).as_posix(): set(s.meta["labels"]) for s in ds.samples}
    ok = {f: pred[f] in labels[f] for f in pred}
    a = "ytbb_videos/vidA_1000/frame-10.jpg"
    expected_pm0 = np.mean([ok[a], ok["ytbb_videos/vidB_2000/frame-10.jpg"]])
    expected_pm10 = np.mean(
        [
            ok[a] and ok["ytbb_videos/vidA_1000/frame-5.jpg"] and ok["ytbb_videos/vidA_1000/frame-12.jpg"],
            ok["ytbb_videos/vidB_2000/frame-10.jpg"],
        ]
    )
    assert by["pm0"].value == pytest.approx(expected_pm0) and by["pm0"].n == 2
    assert by["pm10"].value == pytest.approx(expected_pm10)
    assert by["top1"].n == 4
    with pytest.raises(DatasetError, match="no anchor"):
        get_probe("pm-k")().run(ProbeContext(model, ds.head(0), engine))
