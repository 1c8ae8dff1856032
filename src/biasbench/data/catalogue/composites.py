"""SI-SCORE data (Djolonga et al., CVPR 2021): foreground/background assets and composite folders, released or
generated (the generator is ``biasbench.perturb.composite_generator``; the si-score probe wires the two).

Assumed layouts (under the data root):

* assets (``si-score-samples``): ``foreground_samples/<class>/*.png`` (RGBA, or RGB + ``<name>_mask.png``)
  and ``background_samples/*.jpg`` — the sample set shipped in google-research/si-score — or the full
  ``foregrounds/`` + ``backgrounds/`` download; classes map to ImageNet-1k through the published table
  below, extended or overridden by an optional ``labels.csv`` (``class,imagenet_index``).
* released composites (``si-score-size|location|rotation``): the S3 folders ``object_size/``,
  ``object_location/``, ``object_rotation/`` as ``aws s3 cp --recursive`` writes them: ``metadata.csv``
  (published header), ``foreground_classes_metadata_indices.csv`` (metadata class int → name),
  ``foreground_classes.csv`` (ImageNet index, name) and ``<class name>/<image_id>.jpg``. Generated
  composites are written in the same layout, so one reader serves both.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import ClassVar

import pandas as pd

from biasbench.core.downloads import Download
from biasbench.core.errors import DatasetError
from biasbench.data.datasets import IMAGE_SUFFIXES, Dataset, DatasetSpec, Sample, register_dataset

# google-research/si-score label_str_to_imagenet_classes.py (commit 94cf862): every object class of the
# full foreground set (the release uses 61 of them) → its ImageNet-1k index. A table of facts (Apache-2.0).
SI_SCORE_IMAGENET_INDEX: dict[str, int] = {
    "ambulance": 407, "armadillo": 363, "artichoke": 944, "backpack": 414, "bagel": 931, "balance beam": 416,
    "banana": 954, "band-aid": 419, "beaker": 438, "bell pepper": 945, "billiard table": 736,
    "binoculars": 447, "broccoli": 937, "brown bear": 294, "burrito": 965, "candle": 470, "canoe": 472,
    "cello": 486, "cheetah": 293, "cocktail shaker": 503, "common fig": 952, "computer mouse": 673,
    "cowboy hat": 515, "cucumber": 943, "diaper": 529, "digital clock": 530, "dumbbell": 543,
    "envelope": 549, "eraser": 767, "filing cabinet": 553, "flowerpot": 738, "flute": 558,
    "frying pan": 567, "golf ball": 574, "goose": 99, "guacamole": 924, "hair dryer": 589,
    "hair spray": 585, "hammer": 587, "hamster": 333, "harmonica": 593, "hedgehog": 334,
    "hippopotamus": 344, "hot dog": 934, "ipod": 605, "jeans": 608, "kite": 21, "koala": 105, "ladle": 618,
    "laptop": 620, "lemon": 951, "light switch": 844, "lighthouse": 437, "limousine": 627, "lipstick": 629,
    "lynx": 287, "magpie": 18, "maracas": 641, "measuring cup": 647, "microwave oven": 651,
    "miniskirt": 655, "missile": 657, "mixing bowl": 659, "mobile phone": 487, "mushroom": 947,
    "orange": 950, "ostrich": 9, "otter": 360, "paper towel": 700, "pencil case": 709, "pig": 341,
    "pillow": 721, "pitcher (container)": 725, "pizza": 963, "plastic bag": 728, "polar bear": 296,
    "pomegranate": 957, "pretzel": 932, "printer": 742, "punching bag": 747, "racket": 752,
    "red panda": 387, "remote control": 761, "rugby ball": 768, "ruler": 769, "saxophone": 776,
    "screwdriver": 784, "sea lion": 150, "seat belt": 785, "skunk": 361, "snowmobile": 802,
    "soap dispenser": 804, "sock": 806, "sombrero": 808, "spatula": 813, "starfish": 327,
    "strawberry": 949, "studio couch": 831, "taxi": 468, "teapot": 849, "teddy bear": 850,
    "tennis ball": 852, "toaster": 859, "toilet paper": 999, "torch": 862, "traffic light": 920,
    "vase": 883, "volleyball (ball)": 890, "washing machine": 897, "wok": 909, "zebra": 340,
    "zucchini": 939,
}  # fmt: skip

FOREGROUND_DIRS = ("foreground_samples", "foregrounds")
BACKGROUND_DIRS = ("background_samples", "backgrounds")


def _first_dir(folder: Path, names: tuple[str, ...]) -> Path | None:
    return next((folder / n for n in names if (folder / n).is_dir()), None)


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def label_table(folder: Path) -> dict[str, int]:
    """Class name → ImageNet index: the published table, extended/overridden by ``folder/labels.csv``."""
    table = dict(SI_SCORE_IMAGENET_INDEX)
    extra = folder / "labels.csv"
    if extra.is_file():
        with extra.open(newline="") as f:
            table.update({row["class"]: int(row["imagenet_index"]) for row in csv.DictReader(f)})
    return table


def _class_label(name: str, table: dict[str, int], folder: Path) -> int:
    for key in (name, name.replace("_", " ")):
        if key in table:
            return table[key]
    raise DatasetError(
        f"SI-SCORE foreground class {name!r} (in {folder}) has no ImageNet index; add a line "
        f"'{name},<index>' to {folder / 'labels.csv'} (header: class,imagenet_index)"
    )


@register_dataset
class SiScoreAssets(DatasetSpec):
    name = "si-score-samples"
    summary = "SI-SCORE foreground objects (RGBA) and backgrounds to composite (size/location/rotation)"
    label_space = "imagenet"
    locations = ("si-score-samples", "si-score/assets")
    layout = (
        "foreground_samples/<class>/*.png (RGBA, or RGB + <name>_mask.png) and background_samples/*.jpg "
        "(or foregrounds/ + backgrounds/); optional labels.csv (class,imagenet_index)"
    )
    obtain = "github.com/google-research/si-score (foreground_samples/, background_samples/); full set on S3."
    citation = "Djolonga et al., CVPR 2021"
    # The repository at the commit of the shared data's MANIFEST (no published digest: recorded at the first
    # download): the sample foregrounds and backgrounds with their licence and attributions.
    downloads = (
        Download(
            "https://github.com/google-research/si-score/archive/abd52d68c4d1aacf2f1bb7d32ed0ff18b0781529.tar.gz",
            "si-score-samples",
            layout="github-archive",
            keep=("foreground_samples", "background_samples", "samples_attributions.md", "LICENSE"),
        ),
    )

    def list_samples(self, folder: Path) -> list[Sample]:
        """Foreground instances (label = ImageNet index) then backgrounds (label −1), so the dataset's
        fingerprint covers every asset."""
        fg_dir, bg_dir = _first_dir(folder, FOREGROUND_DIRS), _first_dir(folder, BACKGROUND_DIRS)
        if fg_dir is None or bg_dir is None:
            raise DatasetError(f"{folder} lacks foreground or background folders; expected layout: {self.layout}")
        table = label_table(folder)
        samples = []
        classes = sorted(p.name for p in fg_dir.iterdir() if p.is_dir())
        for cls_index, cls in enumerate(classes):
            files = [p for p in _images(fg_dir / cls) if not p.stem.endswith("_mask")]
            label = _class_label(cls, table, folder)
            for instance, path in enumerate(files):
                mask = path.with_name(f"{path.stem}_mask.png")
                meta = {
                    "role": "foreground",
                    "class": cls,
                    "class_index": cls_index,
                    "instance": instance,
                    "mask": str(mask) if mask.is_file() else None,
                }
                samples.append(Sample(path, label, meta))
        backgrounds = _images(bg_dir)
        samples += [Sample(p, -1, {"role": "background", "background": i}) for i, p in enumerate(backgrounds)]
        if not backgrounds or not any(s.label >= 0 for s in samples):
            raise DatasetError(f"{folder} has no foregrounds or no backgrounds; expected layout: {self.layout}")
        return samples


def read_composites(folder: Path) -> list[Sample]:
    """Samples of a composite folder in the published layout (released or generated), ordered by image
    id; ``meta`` holds the metadata row plus the class name."""
    meta_path = folder / "metadata.csv"
    names_path = folder / "foreground_classes_metadata_indices.csv"
    labels_path = folder / "foreground_classes.csv"
    for p in (meta_path, names_path, labels_path):
        if not p.is_file():
            raise DatasetError(
                f"{p} is missing; an SI-SCORE folder holds metadata.csv, {names_path.name}, "
                f"{labels_path.name} and <class>/<image_id>.jpg"
            )
    names = pd.read_csv(names_path).set_index("int")["label"].to_dict()
    imagenet = {row.label: int(row.int) for row in pd.read_csv(labels_path).itertuples()}
    meta = pd.read_csv(meta_path).sort_values("image_id")
    samples = []
    for row in meta.to_dict("records"):
        cls = names[int(row["foreground_class"])]
        path = folder / cls / f"{int(row['image_id'])}.jpg"
        samples.append(Sample(path, imagenet[cls], {**row, "class": cls}))
    return samples


class SiScoreComposites(DatasetSpec):
    """Composites in the published layout; the registered subclasses are the three released variants."""

    name = "si-score-generated"
    summary = "SI-SCORE composites generated by biasbench from foreground/background assets"
    label_space = "imagenet"
    locations = ()
    layout = "metadata.csv, foreground_classes.csv, foreground_classes_metadata_indices.csv, <class>/<id>.jpg"
    citation = "Djolonga et al., CVPR 2021"
    factor: ClassVar[str] = ""

    def list_samples(self, folder: Path) -> list[Sample]:
        return read_composites(folder)


def _release(variant: str, factor: str, count: int | None) -> type[SiScoreComposites]:
    cls = type(
        f"SiScore{variant.title()}",
        (SiScoreComposites,),
        {
            "name": f"si-score-{variant}",
            "summary": f"released SI-SCORE object-{variant} composites (metadata.csv + <class>/<id>.jpg)",
            "locations": (f"si-score/object_{variant}", f"object_{variant}"),
            "expected_count": count,
            "obtain": f"aws s3 cp s3://si-score-dataset/object_{variant}/ si-score/object_{variant} --recursive",
            "factor": factor,
            "__module__": __name__,
        },
    )
    return register_dataset(cls)


# 92,884 size images per the official demo notebook; the other counts are not documented.
for _variant, _factor, _count in (
    ("size", "area", 92884),
    ("location", "location", None),
    ("rotation", "rotation", None),
):
    _release(_variant, _factor, _count)


def select_classes(assets: Dataset, classes: list[str]) -> Dataset:
    """The assets restricted to foreground ``classes`` (all backgrounds kept)."""
    if not classes:
        return assets
    known = {s.meta["class"] for s in assets.samples if s.meta.get("role") == "foreground"}
    unknown = sorted(set(classes) - known)
    if unknown:
        raise DatasetError(f"SI-SCORE classes {unknown} are not among the foregrounds {sorted(known)}")
    keep = tuple(s for s in assets.samples if s.meta.get("role") == "background" or s.meta["class"] in classes)
    return Dataset(assets.spec, assets.folder, keep)
