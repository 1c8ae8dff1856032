"""The 1000-image ImageNet sample (one image per class, with a ``labels.csv``): a quick sanity set, not a
benchmark."""

from __future__ import annotations

from pathlib import Path

from biasbench.core.downloads import Download
from biasbench.core.errors import DatasetError
from biasbench.data.catalogue.labels_csv import (
    LabelRow,
    imagenet_index,
    match_files,
    missing_lines,
    read_labels_csv,
    unlisted_files,
)
from biasbench.data.datasets import Dataset, DatasetSpec, Sample, image_files, register_dataset


@register_dataset
class ImageNetSample(DatasetSpec):
    name = "imagenet-sample"
    summary = "1000 ImageNet images, one per class, with labels.csv (a quick sanity set, not a benchmark)"
    label_space = "imagenet"
    expected_count = 1000
    locations = ("imagenet-sample-images",)
    layout = "imagenet-sample-images/images/<file>.JPEG plus imagenet-sample-images/labels.csv (filename,class_index)"
    obtain = "github.com/EliSchwartz/imagenet-sample-images; write labels.csv with filename,class_index."
    # The repository at the commit of the shared data's MANIFEST (no published digest: recorded at the first
    # download); its 1000 <wnid>_<name>.JPEG files go to images/ and labels.csv is written from the WNIDs.
    downloads = (
        Download(
            "https://github.com/EliSchwartz/imagenet-sample-images/archive/bc69043e2862758a1906c6a24a792bb28c6bb2ff.tar.gz",
            "imagenet-sample-images",
            layout="imagenet-sample",
        ),
    )

    labels_fix = "Write one line per image: filename,class_index (the ImageNet-1k index 0..999)."

    def labelled_files(self, folder: Path) -> tuple[Path, list[LabelRow], list[LabelRow]]:
        """labels.csv, its rows whose image is present (sorted by file) and its rows whose image is missing. An
        image that labels.csv does not list is an error (a copy mixed with other files)."""
        labels_csv = folder / "labels.csv"
        if not labels_csv.is_file():
            raise DatasetError(f"{labels_csv} is missing; expected layout: {self.layout}")
        rows = read_labels_csv(
            labels_csv,
            file_column="filename",
            label_column="class_index",
            parse_label=imagenet_index,
            fix=self.labels_fix,
        )
        present = [p.relative_to(folder / "images").as_posix() for p in image_files(folder / "images")]
        missing, unlisted = match_files(rows, present)
        if unlisted:
            raise DatasetError(
                f"{unlisted_files(labels_csv, folder / 'images', unlisted)}\nAdd a line for each to labels.csv "
                "or move them out of the folder."
            )
        gone = {r.file for r in missing}
        return labels_csv, sorted((r for r in rows if r.file not in gone), key=lambda r: r.file), missing

    def list_samples(self, folder: Path) -> list[Sample]:
        _, present, _ = self.labelled_files(folder)
        return [Sample(folder / "images" / r.file, r.label) for r in present]

    def completeness(self, dataset: Dataset) -> list[str]:
        labels_csv, _, missing = self.labelled_files(dataset.folder)
        return [missing_lines(labels_csv, missing)] if missing else super().completeness(dataset)
