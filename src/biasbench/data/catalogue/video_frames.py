"""Video robustness sets of Shankar et al. (2019), scored with pm-k (Djolonga et al. 2021 use k = 10):
ImageNet-Vid-Robust (30 classes) and YTBB-Robust (24 indices, "none" included). Layouts and metadata follow
the released data and the WiSE-FT / feature-contamination loaders (CONTAMINATION_AND_META.md §B.4).

Every frame becomes a :class:`Sample` with ``meta``: ``key`` (``<folder>/<frame>`` as in the metadata),
``labels`` (all valid labels; a prediction in the set is correct), ``anchor`` and, for anchors, ``pmset``: the
reviewed neighbours as ``(frame offset, key)`` pairs. ``Sample.label`` is the first valid label.

Their label spaces (``imagenet-vid-30``, ``ytbb-24``: the 1000 ImageNet logits max-merged into the video
classes) are ``biasbench.data.labels.video_classes``.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from biasbench.core.downloads import Download
from biasbench.core.errors import DatasetError
from biasbench.data.datasets import DatasetSpec, Sample, image_files, register_dataset
from biasbench.data.labels.video_classes import read_json


def frame_number(key: str) -> int | None:
    """The frame index in a key's file name (``000123.JPEG`` → 123, ``frame-7.jpg`` → 7), None if absent."""
    match = re.search(r"(\d+)$", Path(key).stem)
    return int(match.group(1)) if match else None


def _key(path: Path, depth: int) -> str:
    return "/".join(path.parts[-depth:])


def video_samples(
    frames: list[Path],
    depth: int,
    labels: dict[str, tuple[int, ...]],
    pmsets: dict[str, tuple[tuple[int | None, str], ...]],
) -> list[Sample]:
    """Samples of the frames that carry labels, anchors with their pm sets; every referenced frame must exist."""
    on_disk = {_key(p, depth): p for p in frames}
    missing = sorted({key for a, s in pmsets.items() for key in (a, *(k for _, k in s))} - on_disk.keys())
    if missing:
        raise DatasetError(f"{len(missing)} frame(s) named in the pm-k metadata are missing, e.g. {missing[:3]}")
    samples = []
    for key, path in sorted(on_disk.items()):
        if key not in labels or not labels[key]:
            continue
        meta = {"key": key, "labels": labels[key], "anchor": key in pmsets}
        if key in pmsets:
            meta["pmset"] = pmsets[key]
        samples.append(Sample(path, labels[key][0], meta))
    return samples


# --- ImageNet-Vid-Robust ------------------------------------------------------------------------------

VID_LAYOUT = (
    "imagenet-vid-robust/val/<snippet>/<frame>.JPEG, metadata/labels.json ({'val/<snippet>/<frame>.JPEG': "
    "[class, ...]}), metadata/pmsets.json ({anchor key: [neighbour keys]}), misc/wnid_map.json ({ImageNet WNID: "
    "VID WNID}), misc/imagenet_vid_class_index.json ({'0': [VID WNID, name], ...})"
)


# The frames of both video sets, from the release linked by the natural-perturbations website (the URL
# wise-ft's DATA.md downloads); no digest published, recorded at the first download. The tarball holds
# imagenet_vid_ytbb_robust/{imagenet-vid-robust,ytbb-robust}/: the specs' first locations.
VIDEO_FRAMES = Download(
    "https://do-imagenet-classifiers-generalize-across-time.s3-us-west-2.amazonaws.com/imagenet_vid_ytbb_robust.tar.gz"
)
# YTBB-Robust's review metadata ships with WiSE-FT (mlfoundations/wise-ft, src/datasets/ytbb-robust_metadata/),
# pinned at a commit; single files, placed into ytbb-robust/metadata/.
WISE_FT_METADATA = tuple(
    Download(
        "https://raw.githubusercontent.com/mlfoundations/wise-ft/4639a3919b51b20beae5814bc6722b962d93ae47/"
        f"src/datasets/ytbb-robust_metadata/{name}",
        "imagenet_vid_ytbb_robust/ytbb-robust/metadata",
        layout="file",
    )
    for name in (
        "anchor_labels.json",
        "pmk_labels.json",
        "ytbb_robustness_test_anchors_full.csv",
        "ytbb_class_index.json",
        "rev_class_idx_map.json",
    )
)


@register_dataset
class ImageNetVidRobust(DatasetSpec):
    name = "imagenet-vid-robust"
    summary = "ImageNet-Vid-Robust: video frames with reviewed ±10-frame neighbours, 30 classes (pm-k)"
    label_space = "imagenet-vid-30"
    locations = ("imagenet_vid_ytbb_robust/imagenet-vid-robust", "imagenet-vid-robust")
    limit_by_class = False  # --limit keeps whole pm-k sets: the first N frames of the canonical order
    layout = VID_LAYOUT
    obtain = (
        "download imagenet_vid_ytbb_robust.tar.gz (Shankar et al., "
        "modestyachts.github.io/natural-perturbations-website) and extract it into the data root"
    )
    citation = "Shankar et al., arXiv 1906.02168 (ICML 2021)"
    downloads = (VIDEO_FRAMES,)

    def list_samples(self, folder: Path) -> list[Sample]:
        labels = {
            k: tuple(int(v) for v in vs) for k, vs in read_json(folder / "metadata/labels.json", VID_LAYOUT).items()
        }
        raw = read_json(folder / "metadata" / "pmsets.json", VID_LAYOUT)
        pmsets = {}
        for anchor, neighbours in raw.items():
            base = frame_number(anchor)
            pmsets[anchor] = tuple(
                (frame_number(n) - base if base is not None and frame_number(n) is not None else None, n)
                for n in neighbours
            )
        return video_samples(image_files(folder / "val"), 3, labels, pmsets)


# --- YTBB-Robust --------------------------------------------------------------------------------------

YTBB_LAYOUT = (
    "ytbb-robust/ytbb_videos/<ytid>_<anchor ms>/frame-<i>.jpg plus ytbb-robust/metadata/ holding the WiSE-FT "
    "metadata files: anchor_labels.json, pmk_labels.json, ytbb_robustness_test_anchors_full.csv, "
    "ytbb_class_index.json and rev_class_idx_map.json"
)
PMK_PROBLEMS = frozenset({
    "dissimilar", "problematic", "incorrect", "dont know", "deformation", "background-change",
    "occlusion-increased", "blur-increase", "bad-anchor",
})  # fmt: skip
YTBB_SWAP = {22: 23, 23: 22}  # the anchor CSV's labels 22 and 23 are swapped (as the original loader corrects)
YTBB_MAX_K = 10


def _frame_key(text: str) -> str:
    path = Path(text)
    return f"{path.parent.name}/{path.name}"


def annotation_labels(path: Path) -> dict[str, set[str]]:
    """Review annotations (``{"labels": [names], "annotations": [{"key", "labels": [i]}]}``) as key → label
    names; a key annotated more than once keeps its last annotation."""
    data = read_json(path, YTBB_LAYOUT)
    names = data["labels"]
    return {row["key"]: {names[i] for i in row["labels"]} for row in data["annotations"]}


def ytbb_anchor_labels(meta: Path) -> tuple[dict[str, tuple[int, ...]], dict[str, tuple[tuple[int, str], ...]]]:
    """Reviewed anchors with their label sets and reviewed pm-10 neighbours, as the original loader builds them:
    good anchors (``good``, not ``bad``/``unsure``) not flagged ``bad-anchor`` by a neighbour review; labels =
    the CSV's initial label (22↔23 swapped) plus labels added in review; neighbours marked ``similar`` with no
    problem label."""
    class_index = {v: int(k) for k, v in read_json(meta / "ytbb_class_index.json", YTBB_LAYOUT).items()}
    anchors = {
        _frame_key(k): names
        for k, names in annotation_labels(meta / "anchor_labels.json").items()
        if "good" in names and not names & {"bad", "unsure"}
    }
    valid_pairs, bad_anchors = set(), set()
    for key, names in annotation_labels(meta / "pmk_labels.json").items():
        anchor, neighbour = (_frame_key(p) for p in key.split(","))
        if "bad-anchor" in names:
            bad_anchors.add(anchor)
        if "similar" in names and not names & PMK_PROBLEMS:
            valid_pairs.add((anchor, neighbour))
    csv_path = meta / "ytbb_robustness_test_anchors_full.csv"
    if not csv_path.is_file():
        raise DatasetError(f"{csv_path} is missing; expected layout: {YTBB_LAYOUT}")
    with csv_path.open(newline="") as f:
        initial = {
            f"{r['ytid']}_{r['time_ms']}": YTBB_SWAP.get(int(r["label"]), int(r["label"])) for r in csv.DictReader(f)
        }
    labels, pmsets = {}, {}
    for anchor, names in anchors.items():
        if anchor in bad_anchors:
            continue
        folder, index = anchor.split("/")[0], frame_number(anchor)
        if folder not in initial or index is None:
            raise DatasetError(f"YTBB-Robust anchor {anchor} has no initial label in {csv_path.name} or no frame index")
        labels[anchor] = tuple(sorted({initial[folder]} | {class_index[n] for n in names if n in class_index}))
        pmsets[anchor] = tuple(
            (i, f"{folder}/frame-{index + i}.jpg")
            for i in range(-YTBB_MAX_K, YTBB_MAX_K + 1)
            if i and (anchor, f"{folder}/frame-{index + i}.jpg") in valid_pairs
        )
    for anchor, neighbours in pmsets.items():  # neighbours are judged against their anchor's labels
        for _, key in neighbours:
            labels[key] = labels[anchor]
    return labels, pmsets


@register_dataset
class YtbbRobust(DatasetSpec):
    name = "ytbb-robust"
    summary = "YTBB-Robust: YouTube-BoundingBoxes frames with reviewed ±10-frame neighbours, 24 indices (pm-k)"
    label_space = "ytbb-24"
    locations = ("imagenet_vid_ytbb_robust/ytbb-robust", "ytbb-robust")
    limit_by_class = False  # --limit keeps whole pm-k sets: the first N frames of the canonical order
    layout = YTBB_LAYOUT
    obtain = (
        "frames: imagenet_vid_ytbb_robust.tar.gz (Shankar et al.); metadata: copy "
        "github.com/mlfoundations/wise-ft src/datasets/ytbb-robust_metadata/* into ytbb-robust/metadata/"
    )
    citation = "Shankar et al., arXiv 1906.02168 (ICML 2021)"
    downloads = (VIDEO_FRAMES, *WISE_FT_METADATA)

    def list_samples(self, folder: Path) -> list[Sample]:
        labels, pmsets = ytbb_anchor_labels(folder / "metadata")
        return video_samples(image_files(folder / "ytbb_videos"), 2, labels, pmsets)
