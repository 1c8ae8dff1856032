"""Pre-rendered corruption benchmarks: ImageNet-C (19 corruptions) and ImageNet-C-bar (10), stored as
``<corruption>/<severity>/<wnid>/<image>`` at 224 px and fed as stored (METHODS.md §5.1)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import ClassVar

from biasbench.core.downloads import Download
from biasbench.data.catalogue.class_folders import ClassFolderSpec, class_folder_samples, subfolders, wnid_label
from biasbench.data.datasets import Dataset, Sample, register_dataset

IMAGENET_C_CORRUPTIONS: tuple[str, ...] = (
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
    "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression",
    "speckle_noise", "gaussian_blur", "spatter", "saturate",
)  # fmt: skip
"""The 19 corruptions of the CVPR 2024 study: Hendrycks & Dietterich's 15 plus the 4 'extra' ones."""

IMAGENET_CBAR_CORRUPTIONS: tuple[str, ...] = (
    "blue_noise_sample", "brownish_noise", "caustic_refraction", "checkerboard_cutout", "cocentric_sine_waves",
    "inverse_sparkles", "perlin_noise", "plasma_noise", "single_frequency_greyscale", "sparkles",
)  # fmt: skip


class CorruptionFolders(ClassFolderSpec):
    """``<corruption>/<severity>/<wnid>/<image>``; each sample's meta names its corruption and severity."""

    label_space = "imagenet"
    resize_policy = "native"  # pre-rendered at 224 px: no resize/crop (ANCHORS.md §3 pitfall 3)
    per_set: ClassVar[int] = 50_000
    ondisk = True

    def severities(self, folder: Path) -> list[tuple[int, str]]:
        """(severity level 1..5, folder name) of one corruption folder."""
        return [(int(n), n) for n in subfolders(folder) if n.isdigit()]

    def list_samples(self, folder: Path) -> list[Sample]:
        label_of = wnid_label()
        present = [c for c in self.corruptions if (folder / c).is_dir()]
        samples = []
        for corruption in present:
            for level, sub in sorted(self.severities(folder / corruption)):
                samples += class_folder_samples(
                    folder / corruption / sub,
                    label_of,
                    layout=self.layout,
                    meta={"corruption": corruption, "severity": level, "severity_folder": sub},
                )
        return samples

    def completeness(self, dataset: Dataset) -> list[str]:
        """Every corruption x severity set present and complete; names what is missing."""
        counts = Counter((s.meta["corruption"], s.meta["severity"]) for s in dataset.samples)
        missing = [c for c in self.corruptions if not any(k[0] == c for k in counts)]
        wrong = {k: n for k, n in counts.items() if n != self.per_set}
        levels = {c: sorted(k[1] for k in counts if k[0] == c) for c in self.corruptions if c not in missing}
        bad_levels = {c: v for c, v in levels.items() if v != [1, 2, 3, 4, 5]}
        if not (missing or wrong or bad_levels):
            return []
        parts = []
        if missing:
            parts.append(f"missing corruptions: {', '.join(missing)}")
        if bad_levels:
            parts.append("severities found: " + "; ".join(f"{c} {v}" for c, v in bad_levels.items()))
        if wrong:
            parts.append("incomplete sets: " + ", ".join(f"{c}/{s}: {n}" for (c, s), n in sorted(wrong.items())[:5]))
        return [
            f"dataset {self.name!r} at {dataset.folder} is incomplete ({'; '.join(parts)}). Expected "
            f"{len(self.corruptions)} corruptions x 5 severities x {self.per_set} images; layout {self.layout}. "
            + self.obtain
        ]


@register_dataset
class ImageNetC(CorruptionFolders):
    name = "imagenet-c"
    summary = "ImageNet-C: 19 corruptions (15 + 4 extra) x 5 severities x 50,000, pre-rendered 224 px"
    corruptions = IMAGENET_C_CORRUPTIONS
    expected_count = 19 * 5 * 50_000
    locations = ("imagenet-c", "ImageNet-C")
    layout = "imagenet-c/<corruption>/<1..5>/<wnid>/ILSVRC2012_val_<n>.JPEG (224x224)"
    obtain = (
        "Download noise.tar, blur.tar, weather.tar, digital.tar and extra.tar from zenodo.org/record/2235448 "
        "(about 70 GB together) and extract them all into <data root>/imagenet-c."
    )
    citation = "Hendrycks & Dietterich, ICLR 2019"
    # Zenodo record 2235448 (the authors' release); md5s as Zenodo lists them (also pinned by torch-uncertainty
    # ImageNetC.tgz_md5 and shifthappens' ImageNet-C tasks). Each tar holds <corruption>/<1..5>/<wnid>/...;
    # fetch one group with --part (noise, blur, weather, digital, extra) and measure it with --partial.
    downloads = tuple(
        Download(
            f"https://zenodo.org/records/2235448/files/{part}.tar",
            "imagenet-c",
            md5=md5,
            layout="corruption-folders",
            part=part,
        )
        for part, md5 in (
            ("noise", "e80562d7f6c3f8834afb1ecf27252745"),  # gaussian, shot, impulse noise
            ("blur", "2d8e81fdd8e07fef67b9334fa635e45c"),  # defocus, glass, motion, zoom blur
            ("weather", "33ffea4db4d93fe4a428c40a6ce0c25d"),  # snow, frost, fog, brightness
            ("digital", "89157860d7b10d5797849337ca2e5c03"),  # contrast, elastic, pixelate, jpeg
            ("extra", "d492dfba5fc162d8ec2c3cd8ee672984"),  # speckle noise, gaussian blur, spatter, saturate
        )
    )


@register_dataset
class ImageNetCBar(CorruptionFolders):
    name = "imagenet-cbar"
    summary = "ImageNet-C-bar: 10 corruptions x 5 severities x 50,000, pre-rendered 224 px"
    corruptions = IMAGENET_CBAR_CORRUPTIONS
    expected_count = 10 * 5 * 50_000
    locations = ("imagenet-c-bar", "ImageNet-C-Bar", "imagenet-cbar")
    layout = (
        "imagenet-c-bar/<corruption>/<severity parameter, e.g. 0.40>/<wnid>/<image>.JPEG (224x224); the five "
        "parameter folders of a corruption are ranked numerically as severities 1..5"
    )
    obtain = (
        "Download imagenet_c_bar.tar.gz as linked from github.com/facebookresearch/augmentation-corruption "
        "(or render it with its make_imagenet_c_bar.py from ImageNet val) and extract into <data root>/imagenet-c-bar."
    )
    citation = "Mintun, Kirillov & Xie, NeurIPS 2021"
    # The preprocessed copy linked from facebookresearch/augmentation-corruption's README (severity folders 1..5,
    # ImageNet-C's structure); no digest published, recorded at the first download.
    downloads = (
        Download(
            "https://dl.fbaipublicfiles.com/inc_bar/imagenet_c_bar.tar.gz",
            "imagenet-c-bar",
            layout="corruption-folders",
        ),
    )

    def severities(self, folder: Path) -> list[tuple[int, str]]:
        # Folders are named by the corruption's parameter ("{:.2f}"), not 1..5; rank them numerically.
        names = [n for n in subfolders(folder) if re.fullmatch(r"\d+(\.\d+)?", n)]
        return [(rank, n) for rank, n in enumerate(sorted(names, key=float), start=1)]
