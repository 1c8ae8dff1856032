"""Your own images as a dataset: ``--dataset folder:PATH`` (``biasbench run``, ``biasbench datasets``, the API).

Three layouts are recognised, and anything else is refused with the reason and the fix:

- class folders named by WNID: ``PATH/n01440764/<image>``;
- class folders named by ImageNet-1k class index: ``PATH/0/<image>`` ... ``PATH/999/<image>`` (``007`` is 7);
- any folder with a ``labels.csv`` (columns ``file,label``; ``file`` relative to PATH, ``label`` a class index
  or a WNID), validated line by line: every image listed once, every listed file present.

Labels are ImageNet-1k indices, scored 1000-way like ``imagenet-val``. The dataset is recorded under its
absolute path (``folder:/data/my-images``); its fingerprint, like every dataset's, covers the relative file
names, sizes and labels, so the job key and the decoded-image cache follow the folder's content.
"""

from __future__ import annotations

from pathlib import Path

from biasbench.core.errors import DatasetError
from biasbench.data.catalogue.class_folders import image_names, subfolders
from biasbench.data.catalogue.labels_csv import (
    imagenet_label,
    match_files,
    missing_lines,
    read_labels_csv,
    unlisted_files,
)
from biasbench.data.datasets import (
    IMAGE_SUFFIXES,
    DatasetSpec,
    Sample,
    image_files,
    register_dataset_prefix,
)
from biasbench.data.labels.imagenet import NUM_CLASSES, wnid_to_index

FOLDER_LAYOUT = (
    "PATH/<wnid>/<image> (class folders named like n01440764), PATH/<index>/<image> (class folders 0..999), or "
    "PATH/labels.csv with columns file,label (file relative to PATH; label a class index 0..999 or a WNID)"
)
LABELS_FIX = (
    "labels.csv needs a header line file,label and one line per image, e.g. 'goldfish.jpg,1' or "
    "'goldfish.jpg,n01443537' (ImageNet-1k class index 0..999 or WNID)."
)
SHOWN = 5


def class_of(folder_name: str) -> tuple[str, int] | None:
    """("wnid" | "index", ImageNet index) of a class folder name, None when it is neither."""
    if folder_name in wnid_to_index():
        return "wnid", wnid_to_index()[folder_name]
    if folder_name.isdigit() and int(folder_name) < NUM_CLASSES:
        return "index", int(folder_name)
    return None


def quoted(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names[:SHOWN]) + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")


class ImageFolder(DatasetSpec):
    """An image folder given on the command line; not registered (``folder:PATH`` builds one per path)."""

    summary = "your own images: class folders named by WNID or class index, or a labels.csv"
    label_space = "imagenet"
    locations = ()
    layout = FOLDER_LAYOUT
    obtain = "point folder: at a folder of images in one of the layouts above"

    def __init__(self, path: Path):
        self.path = path
        self.name = f"folder:{path}"

    def find(self, root: Path) -> Path | None:
        return self.path if self.path.is_dir() else None

    def missing_message(self, root: Path) -> str:
        problem = "is a file, not a folder" if self.path.exists() else "does not exist"
        return (
            f"image folder {self.path} {problem} (from --dataset {self.name}). Give the path of a folder laid out "
            f"as {FOLDER_LAYOUT}."
        )

    def list_samples(self, folder: Path) -> list[Sample]:
        try:
            if (folder / "labels.csv").is_file():
                return self.labelled(folder)
            return self.class_folders(folder)
        except PermissionError as e:
            raise DatasetError(
                f"cannot read {e.filename or folder}: permission denied. Give your user read access "
                f"(e.g. chmod -R u+rX {folder}) or copy the images elsewhere."
            ) from None

    def labelled(self, folder: Path) -> list[Sample]:
        labels_csv = folder / "labels.csv"
        rows = read_labels_csv(
            labels_csv, file_column="file", label_column="label", parse_label=imagenet_label, fix=LABELS_FIX
        )
        present = [p.relative_to(folder).as_posix() for p in image_files(folder)]
        missing, unlisted = match_files(rows, present)
        problems = ([missing_lines(labels_csv, missing)] if missing else []) + (
            [unlisted_files(labels_csv, folder, unlisted)] if unlisted else []
        )
        if problems:
            raise DatasetError(
                "\n".join(problems) + "\nEvery image under the folder needs exactly one line in labels.csv, and "
                "every line an existing image: fix the lines, or move the extra images out."
            )
        return [Sample(folder / r.file, r.label) for r in sorted(rows, key=lambda r: r.file)]

    def class_folders(self, folder: Path) -> list[Sample]:
        top_level = image_names(folder)
        classes = {name: image_files(folder / name) for name in subfolders(folder) if not name.startswith(".")}
        classes = {name: files for name, files in classes.items() if files}
        if top_level and classes:
            raise DatasetError(
                f"{folder} mixes images at its top level ({quoted(top_level)}) with class folders "
                f"({quoted(sorted(classes))}). Move the top-level images into class folders, or list every image "
                f"in a labels.csv. Expected layout: {FOLDER_LAYOUT}"
            )
        if top_level:
            raise DatasetError(
                f"{folder} has {len(top_level)} images but no labels: add a labels.csv (file,label) or sort them "
                f"into class folders named by WNID or class index. {LABELS_FIX}"
            )
        if not classes:
            raise DatasetError(
                f"{folder} contains no images (looked for {', '.join(sorted(IMAGE_SUFFIXES))} files, in class "
                f"folders or listed in a labels.csv). Expected layout: {FOLDER_LAYOUT}"
            )
        kinds = {name: class_of(name) for name in classes}
        unknown = sorted(name for name, kind in kinds.items() if kind is None)
        if unknown:
            raise DatasetError(
                f"{folder}: class folders must be named by WNID (n01440764) or ImageNet class index (0..999); "
                f"{quoted(unknown)} {'is' if len(unknown) == 1 else 'are'} neither. Rename them, or list the images "
                f"in a labels.csv (file,label) instead."
            )
        by_kind = {kind for kind, _ in kinds.values()}
        if len(by_kind) > 1:
            wnids = sorted(n for n, (kind, _) in kinds.items() if kind == "wnid")
            indices = sorted(n for n, (kind, _) in kinds.items() if kind == "index")
            raise DatasetError(
                f"{folder} mixes class folders named by WNID ({quoted(wnids)}) and by class index "
                f"({quoted(indices)}); name them all one way."
            )
        seen: dict[int, str] = {}
        for name, (_, label) in sorted(kinds.items()):
            if label in seen:
                raise DatasetError(f"{folder}: class folders {seen[label]!r} and {name!r} both mean class {label}")
            seen[label] = name
        return [
            Sample(path, kinds[name][1])
            for name in sorted(classes, key=lambda n: kinds[n][1])
            for path in classes[name]
        ]


@register_dataset_prefix("folder")
def folder_dataset(argument: str) -> ImageFolder:
    """``folder:PATH`` → the dataset of that folder (``~`` expanded, the path made absolute)."""
    if not argument.strip():
        raise DatasetError("--dataset folder: needs a path after the colon, e.g. --dataset folder:~/my-images")
    return ImageFolder(Path(argument.strip()).expanduser().resolve())
