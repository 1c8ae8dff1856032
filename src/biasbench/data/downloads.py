"""Public dataset archives: what a spec may download (``Download``) and ``download_dataset``, which fetches
and safely extracts them into the data root."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from biasbench.core.downloads import fetch_and_extract
from biasbench.core.errors import DatasetError
from biasbench.core.paths import resolve_data_root
from biasbench.data.datasets import get_dataset_spec


@dataclass(frozen=True)
class Download:
    """One public archive: extracted into ``<data root>/<into>``. ``sha256`` is empty where no published
    digest was available to pin (fetch then skips verification and says so in the report)."""

    url: str
    into: str = "."
    sha256: str = ""


def download_dataset(name: str, root: Path | str | None = None) -> Path:
    """Download and safely extract a dataset's public archives into the data root (resumable; archives are
    kept under ``<root>/.downloads`` for re-use). Datasets without public archives raise with their
    instructions."""
    spec = get_dataset_spec(name)
    root_path = resolve_data_root(root)
    if not spec.downloads:
        raise DatasetError(f"dataset {name!r} has no public download. {spec.obtain}")
    for d in spec.downloads:
        archive = root_path / ".downloads" / d.url.rsplit("/", 1)[-1]
        fetch_and_extract(d.url, archive, root_path / d.into, d.sha256)
    return root_path
