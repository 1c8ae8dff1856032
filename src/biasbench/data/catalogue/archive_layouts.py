"""How a downloaded archive's contents become a dataset's expected layout (``Download.layout``).

Every converter moves files from a staging folder (the archive extracted, already checked member by member)
into the target folder under the data root. Files are moved with ``merge_into``, which never overwrites a
file that is already there: a fetch interrupted half-way is completed by the next one, and a file a user
placed by hand is kept. Register a converter with ``@register_layout("name")``.
"""

from __future__ import annotations

import csv
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from biasbench.core.downloads import Download, FetchError
from biasbench.core.registry import Registry
from biasbench.data.datasets import IMAGE_SUFFIXES, DatasetSpec
from biasbench.data.labels.imagenet import wnid_to_index

Converter = Callable[[Path, Path, Download, DatasetSpec], int]
"""(staging folder, target folder, the download, the dataset spec) → number of files placed."""

LAYOUTS: Registry[Converter] = Registry(
    "archive layout", packages=("biasbench.data.catalogue",), group="biasbench.datasets"
)


def register_layout(name: str) -> Callable[[Converter], Converter]:
    """Decorator registering a converter under ``name`` (the ``layout`` a ``Download`` names)."""
    return LAYOUTS.decorator(name)


def get_layout(name: str) -> Converter:
    """The converter of ``name``; unknown names get suggestions."""
    return LAYOUTS[name]


def merge_into(src: Path, dst: Path) -> int:
    """Move every file under ``src`` to the same relative place under ``dst``, keeping files that already
    exist there (same filesystem: renames). Returns the number of files moved."""
    if src.is_file() or src.is_symlink():
        if dst.exists() or dst.is_symlink():
            return 0
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)
        return 1
    if not dst.exists():  # the common case: one rename moves the whole tree
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)
        return sum(len(files) for _, _, files in os.walk(dst))
    return sum(merge_into(child, dst / child.name) for child in sorted(src.iterdir()))


def kept(root: Path, download: Download) -> list[Path]:
    """The entries of ``root`` a download keeps (``Download.keep``; all when empty), refusing absent ones so
    that an archive whose layout changed upstream is reported instead of half-placed."""
    if not download.keep:
        return sorted(root.iterdir())
    missing = [k for k in download.keep if not (root / k).exists()]
    if missing:
        raise FetchError(
            f"{download.url} does not contain {', '.join(missing)} (found: "
            f"{', '.join(sorted(p.name for p in root.iterdir()))}); the archive's layout changed upstream"
        )
    return [root / k for k in download.keep]


def single_top_folder(staging: Path, download: Download) -> Path:
    """The one folder a GitHub source archive wraps everything in (``<repo>-<commit>/``)."""
    entries = list(staging.iterdir())
    if len(entries) != 1 or not entries[0].is_dir():
        raise FetchError(f"{download.url}: expected one top folder in the archive, found {len(entries)} entries")
    return entries[0]


@register_layout("as-is")
def as_is(staging: Path, target: Path, download: Download, spec: DatasetSpec) -> int:
    """The archive already has the expected layout: its entries (or ``keep``) go into the target as they are."""
    return sum(merge_into(entry, target / entry.name) for entry in kept(staging, download))


@register_layout("github-archive")
def github_archive(staging: Path, target: Path, download: Download, spec: DatasetSpec) -> int:
    """A GitHub source archive: the ``<repo>-<commit>/`` wrapper is dropped, the ``keep`` paths placed."""
    top = single_top_folder(staging, download)
    return sum(merge_into(entry, target / entry.relative_to(top)) for entry in kept(top, download))


@register_layout("imagenet-sample")
def imagenet_sample(staging: Path, target: Path, download: Download, spec: DatasetSpec) -> int:
    """EliSchwartz/imagenet-sample-images: 1000 ``<wnid>_<name>.JPEG`` files at the repository's top level →
    ``images/`` plus the ``labels.csv`` (filename,wnid,class_index) that the dataset reads."""
    top = single_top_folder(staging, download)
    index = wnid_to_index()
    images = sorted(p for p in top.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    unknown = [p.name for p in images if p.name[:9] not in index]
    if not images or unknown:
        raise FetchError(f"{download.url}: {len(images)} images, of which {len(unknown)} lack a WNID prefix")
    rows = [(p.name, p.name[:9], index[p.name[:9]]) for p in images]
    with (top / "labels.csv").open("w", newline="") as f:
        csv.writer(f).writerows([("filename", "wnid", "class_index"), *rows])
    placed = merge_into(top / "labels.csv", target / "labels.csv")
    return placed + sum(merge_into(p, target / "images" / p.name) for p in images)


@register_layout("corruption-folders")
def corruption_folders(staging: Path, target: Path, download: Download, spec: DatasetSpec) -> int:
    """ImageNet-C / -C-bar tars: wherever the archive nests them, the folders named after the benchmark's
    corruptions (``<corruption>/<severity>/<wnid>/<image>``) go to ``<target>/<corruption>``."""
    wanted = set(spec.corruptions)
    found: dict[str, Path] = {}
    for folder, dirs, _ in os.walk(staging):
        for name in dirs:
            if name in wanted:
                found.setdefault(name, Path(folder) / name)
        depth = len(Path(folder).relative_to(staging).parts)
        dirs[:] = [] if depth >= 2 else [d for d in dirs if d not in wanted]  # top-level folders, 2 deep at most
    if not found:
        raise FetchError(f"{download.url}: no folder named after a corruption of {spec.name} in the archive")
    return sum(merge_into(path, target / name) for name, path in sorted(found.items()))


@register_layout("file")
def single_file(staging: Path, target: Path, download: Download, spec: DatasetSpec) -> int:
    """A single file (metadata, not an archive): placed as ``<target>/<file name>``."""
    return merge_into(staging / download.filename, target / download.filename)


def remove_tree(path: Path) -> None:
    """Remove a staging folder (ignoring one that is already gone)."""
    shutil.rmtree(path, ignore_errors=True)
