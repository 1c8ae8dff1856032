"""``zoo:ID`` models: checkpoints that are neither in timm nor in torchvision (URLs, Google Drive, Hugging Face
files), described by their zoo entry and loaded through a checkpoint format adapter.

A zoo entry for this source carries (besides id/source/category/citation)::

    arch = "resnet50"            # timm architecture the weights load into (default resnet50)
    format = "madry"             # adapter in biasbench.models.checkpoints (default state_dict)
    normalize = "imagenet"       # imagenet | none | inception: the input standardisation inside the wrapper
    url = "https://..."          # or gdrive_id = "...", or hf_repo = "org/repo" + hf_file = "x.ckpt"
    sha256 = ""                  # full digest or >= 8-hex prefix; empty = not known (no check)
    head_url / head_sha256       # a second file for adapters that read one (DINO/SwAV linear heads)

Files are downloaded once into ``<cache>/checkpoints/<id>/`` (``BIASBENCH_CACHE`` overrides the cache); a file
placed there by hand is used as is, so the model also works with no network at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

import pandas as pd

from biasbench.core.downloads import FetchError, checkpoint_dir, fetch, gdrive_url
from biasbench.core.errors import BiasbenchError, ModelLoadError, UnknownNameError
from biasbench.core.fingerprint import digest
from biasbench.core.preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocess
from biasbench.models.checkpoints import checkpoint_digest, convert_checkpoint, get_format, load_into
from biasbench.models.sources import MODEL_SOURCES, ModelSource, ModelSpec, register_source
from biasbench.models.timm_source import import_timm
from biasbench.models.wrapper import Classifier
from biasbench.models.zoo import ZooEntry, load_zoo, named_models

NORMALISATIONS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "imagenet": (IMAGENET_MEAN, IMAGENET_STD),
    "none": ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),  # SimCLRv2, diffusion-noise: trained on raw [0,1] input
    "inception": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
}
ROLE_PREFIX = {"weights": "", "head": "head_"}


@dataclass(frozen=True)
class RemoteFile:
    """One file of a zoo checkpoint: where it comes from and where it lives in the cache."""

    url: str
    sha256: str
    path: Path
    hf: tuple[str, str] | None = None  # (repo, file) when the file is on the Hugging Face Hub

    def local(self) -> Path | None:
        """The file on disk if it is already here (our cache, or the Hugging Face cache)."""
        if self.path.is_file():
            return self.path
        if self.hf:
            from huggingface_hub import try_to_load_from_cache

            found = try_to_load_from_cache(*self.hf)
            if isinstance(found, str):
                return Path(found)
        return None


def find_entry(spec: ModelSpec) -> ZooEntry:
    """The zoo entry named by ``zoo:ID`` (``?zoo=NAME_OR_PATH`` picks a zoo file, else every shipped zoo)."""
    entries = {e.id: e for e in load_zoo(spec.options["zoo"]).models} if "zoo" in spec.options else named_models()
    if spec.ref not in entries:
        raise UnknownNameError("zoo model", spec.ref, entries)
    return entries[spec.ref]


def remote_files(entry: ZooEntry) -> list[RemoteFile]:
    """The files the entry's checkpoint format reads, in the adapter's order."""
    fmt = get_format(entry.extra.get("format", "state_dict"))
    files = []
    for role in fmt.files:
        p = ROLE_PREFIX[role]
        get = entry.extra.get
        url, hf = get(f"{p}url", ""), None
        if get(f"{p}hf_repo"):
            hf = (get(f"{p}hf_repo"), get(f"{p}hf_file"))
            url = url or f"https://huggingface.co/{hf[0]}/resolve/main/{hf[1]}"
        elif get(f"{p}gdrive_id"):
            url = gdrive_url(get(f"{p}gdrive_id"))
        if not url:
            raise ModelLoadError(
                f"zoo model {entry.id!r} names no location for its {role} file ({get('note', 'no URL recorded')}). "
                f"Place the file at {checkpoint_dir() / entry.id / f'{role}.pth'} by hand."
            )
        name = hf[1] if hf else PurePosixPath(urlparse(url).path).name
        if get(f"{p}gdrive_id") or not name:
            name = f"{role}.pth"  # Drive URLs carry no file name
        files.append(RemoteFile(url, get(f"{p}sha256", ""), checkpoint_dir() / entry.id / name, hf))
    return files


def fetch_files(entry: ZooEntry) -> list[Path]:
    """Local paths of the entry's files, downloading (verified, resumable) what is missing."""
    paths = []
    for f in remote_files(entry):
        local = f.local()
        try:
            paths.append(local if local is not None else fetch(f.url, f.path, f.sha256))
        except FetchError as e:
            raise ModelLoadError(f"zoo model {entry.id!r}: {e}") from e
    return paths


def _fingerprint(entry: ZooEntry, paths: list[Path]) -> str:
    """Hash of the weight files plus everything that changes how they are loaded."""
    get = entry.extra.get
    fields = [get("format", "state_dict"), get("arch", "resnet50"), get("normalize", "imagenet")]
    return digest(["zoo", entry.id, *fields, checkpoint_digest(paths)])


@register_source
class ZooSource(ModelSource):
    prefix = "zoo"
    summary = "a zoo-file checkpoint (URL / Google Drive / Hugging Face file), downloaded once and converted"
    example = "zoo:robust_resnet50_l2_eps3"

    def names(self) -> list[str]:
        return sorted(k for k, e in named_models().items() if e.source.startswith(f"{self.prefix}:"))

    def load(self, spec: ModelSpec) -> Classifier:
        entry = find_entry(spec)
        paths = fetch_files(entry)
        fmt = entry.extra.get("format", "state_dict")
        state = convert_checkpoint(fmt, paths)
        arch = entry.extra.get("arch", "resnet50")
        net = import_timm().create_model(arch, pretrained=False)
        load_into(net, state, where=f"zoo model {entry.id!r} ({fmt} checkpoint {', '.join(map(str, paths))})")
        norm = entry.extra.get("normalize", "imagenet")
        if norm not in NORMALISATIONS:
            raise UnknownNameError("normalisation", norm, NORMALISATIONS)
        mean, std = NORMALISATIONS[norm]
        return Classifier(
            net,
            name=spec.text,
            mean=mean,
            std=std,
            preprocess=self.preprocess(spec),
            fingerprint=_fingerprint(entry, paths),
            source={"zoo_id": entry.id, "files": [str(p) for p in paths], "format": fmt},
        )

    def preprocess(self, spec: ModelSpec) -> Preprocess:
        return Preprocess()  # every study model is evaluated with resize 256 / crop 224, bilinear

    def fingerprint(self, spec: ModelSpec) -> str:
        entry = find_entry(spec)
        return _fingerprint(entry, fetch_files(entry))

    def cached(self, spec: ModelSpec) -> bool | None:
        try:
            return all(f.local() is not None for f in remote_files(find_entry(spec)))
        except BiasbenchError:
            return False


def describe_zoo(name: str) -> pd.DataFrame:
    """One row per model of a zoo (shipped name or TOML path): id, category, method, source, cached, citation.

    ``cached`` says whether the weights are on disk already (None when the source cannot tell)."""
    rows = []
    for entry in load_zoo(name).models:
        try:
            spec = ModelSpec.parse(entry.source)
            cached = MODEL_SOURCES[spec.source].cached(spec)
        except BiasbenchError:
            cached = False
        rows.append(
            {
                "id": entry.id,
                "category": entry.category,
                "method": entry.extra.get("method", ""),
                "source": entry.source,
                "cached": cached,
                "citation": entry.citation,
            }
        )
    return pd.DataFrame(rows, columns=["id", "category", "method", "source", "cached", "citation"])
