"""ObjectNet's overlap with ImageNet: which ImageNet classes (WNIDs) each ObjectNet image folder stands for,
read from the mapping files that ship with ObjectNet (the ``objectnet-113`` label space is built from it)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from biasbench.core.errors import DatasetError
from biasbench.data.labels.imagenet import imagenet_wnids, timm_info_file

OBJECTNET_WNID_MAP = "objectnet_to_imagenet_wnids.json"


@cache
def imagenet_lemmas() -> dict[str, list[str]]:
    """Full WordNet lemma string of each ImageNet-1k class (timm's list) → WNIDs carrying it."""
    wnids = set(imagenet_wnids())
    out: dict[str, list[str]] = {}
    for line in timm_info_file("imagenet_synset_to_lemma.txt").read_text().splitlines():
        wnid, _, lemma = line.partition("\t")
        if wnid in wnids:
            out.setdefault(lemma.strip(), []).append(wnid)
    return out


def objectnet_folder_wnids(mappings: Path) -> dict[str, tuple[str, ...]]:
    """ObjectNet image folder → WNIDs of its overlapping ImageNet classes.

    Reads, in order of preference, a user-supplied ``objectnet_to_imagenet_wnids.json`` (``{folder: [wnid,
    ...]}``), else derives it from the files that ship with ObjectNet: ``folder_to_objectnet_label.json``
    (folder → label) and ``objectnet_to_imagenet_1k.json`` (label → ``"lemma; lemma"``), matching each lemma
    string exactly against the ImageNet lemma list (no fragile numeric id files are used).
    """
    explicit = mappings / OBJECTNET_WNID_MAP
    if explicit.is_file():
        data = json.loads(explicit.read_text())
        return {folder: tuple(w) for folder, w in sorted(data.items())}
    folders_file, names_file = mappings / "folder_to_objectnet_label.json", mappings / "objectnet_to_imagenet_1k.json"
    if not (folders_file.is_file() and names_file.is_file()):
        raise DatasetError(
            f"ObjectNet mapping files missing in {mappings}: need {folders_file.name} and {names_file.name} "
            f"(they ship with ObjectNet), or a hand-made {OBJECTNET_WNID_MAP} "
            "(a JSON object mapping each folder to its list of WNIDs)."
        )
    label_of_folder = json.loads(folders_file.read_text())
    lemmas_of_label = json.loads(names_file.read_text())
    lemma_index = imagenet_lemmas()
    out: dict[str, tuple[str, ...]] = {}
    for folder, label in sorted(label_of_folder.items()):
        if label not in lemmas_of_label:
            continue  # not one of the overlapping classes
        wnids = []
        for lemma in lemmas_of_label[label].split(";"):
            found = lemma_index.get(lemma.strip(), [])
            if len(found) != 1:
                raise DatasetError(
                    f"ObjectNet class {label!r}: ImageNet class name {lemma.strip()!r} matches {len(found)} "
                    f"ImageNet classes; write {mappings / OBJECTNET_WNID_MAP} (a JSON object mapping each folder "
                    "to its list of WNIDs) to resolve it."
                )
            wnids.append(found[0])
        out[folder] = tuple(wnids)
    return out
