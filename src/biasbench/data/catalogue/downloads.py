"""Public datasets in one command: ``download_dataset(name)`` (``biasbench fetch NAME``) downloads every public
file a dataset declares (``DatasetSpec.downloads``), verifies it and lays it out under the data root exactly as
the dataset expects.

- **Verified.** A digest published for the URL (sha256 or md5; each declaration names its source) is checked.
  Where none is published, the sha256 of the first complete download is recorded in the data root's lock file
  ``downloads.lock.json`` and every later download of that URL must match it.
- **Resumable.** Files are downloaded into ``<data root>/.downloads/`` and an interrupted download continues
  with an HTTP Range request.
- **Safe.** An archive is extracted into a staging folder only after every member passed the checks of
  ``core.downloads.safe_extract`` (no absolute paths, no ``..``, no links leaving the folder, no devices);
  a failed digest, an unsafe member or a damaged archive leaves nothing in the dataset's layout. The layout
  converter (``archive_layouts``) then moves the files into place without overwriting existing ones.
- **Mirrors.** ``BIASBENCH_DOWNLOAD_MIRROR=https://mirror.example/data`` (or ``mirror=``) fetches
  ``https://host/path`` from ``https://mirror.example/data/host/path``: an institution's mirror, or a local
  test server. Digests are still checked against the original URL's.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from biasbench.core.downloads import Download, FetchError, fetch, file_digests, is_archive, safe_extract
from biasbench.core.errors import DatasetError, UnknownNameError
from biasbench.core.fingerprint import digest
from biasbench.core.paths import resolve_data_root
from biasbench.data.catalogue.archive_layouts import get_layout, remove_tree
from biasbench.data.datasets import DatasetSpec, get_dataset_spec

LOCK_FILE = "downloads.lock.json"
DOWNLOADS_DIR = ".downloads"
MIRROR_ENV = "BIASBENCH_DOWNLOAD_MIRROR"


def mirrored(url: str, mirror: str | None) -> str:
    """``url`` as served by ``mirror`` (``<mirror>/<host>/<path>?<query>``); ``url`` itself without one."""
    if not mirror:
        return url
    parts = urllib.parse.urlsplit(url)
    query = f"?{parts.query}" if parts.query else ""
    return f"{mirror.rstrip('/')}/{parts.netloc}{parts.path}{query}"


def read_lock(root: Path) -> dict[str, Any]:
    """The lock file of a data root: ``{"files": {url: {sha256, bytes, recorded, digest, placed}}}``."""
    path = root / LOCK_FILE
    if not path.is_file():
        return {"files": {}}
    try:
        lock = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise DatasetError(
            f"cannot read {path} ({e}). It records the digests of earlier downloads: restore it, or delete it "
            "to record new ones at the next fetch."
        ) from None
    return lock if isinstance(lock.get("files"), dict) else {"files": {}}


def write_lock(root: Path, lock: dict[str, Any]) -> None:
    """Write the lock file atomically (a temporary file renamed into place)."""
    root.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=root, prefix=f".{LOCK_FILE}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(lock, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, root / LOCK_FILE)


@dataclass
class FetchReport:
    """What one ``download_dataset`` call did, per file."""

    root: Path
    placed: dict[str, int] = field(default_factory=dict)  # url → files moved into the layout
    skipped: list[str] = field(default_factory=list)  # urls already placed earlier
    recorded: list[str] = field(default_factory=list)  # urls whose digest was recorded now (none published)


def select_parts(spec: DatasetSpec, parts: Sequence[str]) -> tuple[Download, ...]:
    """The downloads of ``spec`` named by ``parts`` (all when empty); unknown parts get suggestions."""
    if not parts:
        return spec.downloads
    known = {d.part: d for d in spec.downloads if d.part}
    for part in parts:
        if part not in known:
            raise UnknownNameError(f"{spec.name} part", part, known, hint=f"`biasbench fetch {spec.name}` fetches all.")
    return tuple(known[p] for p in parts)


def download_dataset(
    name: str,
    root: Path | str | None = None,
    *,
    parts: Sequence[str] = (),
    mirror: str | None = None,
    force: bool = False,
    keep_archives: bool = False,
    progress: bool = True,
    report: Callable[[str], None] = lambda _: None,
) -> FetchReport:
    """Download, verify and lay out dataset ``name``'s public files under the data root.

    ``parts`` limits the fetch to some archives (e.g. ImageNet-C's ``noise``); a file placed by an earlier
    fetch is skipped unless ``force`` (which re-extracts it and restores files that went missing). Archives
    are deleted once placed unless ``keep_archives``. Datasets without a public download raise DatasetError
    with their instructions."""
    spec = get_dataset_spec(name)
    if not spec.downloads:
        raise DatasetError(f"dataset {name!r} has no public download. {spec.obtain}")
    root_path = resolve_data_root(root)
    mirror = mirror if mirror is not None else os.environ.get(MIRROR_ENV)
    result = FetchReport(root_path)
    for download in select_parts(spec, parts):
        lock = read_lock(root_path)
        entry = lock["files"].get(download.url, {})
        target = root_path / download.into
        if entry.get("placed") and target.exists() and not force:
            result.skipped.append(download.url)
            report(f"{download.filename}: already in place under {target} (--force re-extracts it)")
            continue
        report(f"{download.filename}: downloading from {mirrored(download.url, mirror)}")
        result.placed[download.url] = place(download, spec, root_path, lock, mirror, keep_archives, progress, result)
        report(f"{download.filename}: {result.placed[download.url]} file(s) placed under {target}")
    return result


def place(
    download: Download,
    spec: DatasetSpec,
    root: Path,
    lock: dict[str, Any],
    mirror: str | None,
    keep_archives: bool,
    progress: bool,
    result: FetchReport,
) -> int:
    """Fetch one file (verified against the published or the recorded digest), extract it into staging, move
    it into the layout and record it in the lock file; a failure leaves nothing in the layout."""
    entry = lock["files"].get(download.url, {})
    published = bool(download.sha256 or download.md5)
    recorded = "" if published else entry.get("sha256", "")
    archive = root / DOWNLOADS_DIR / f"{digest(download.url, 8)}-{download.filename}"  # unique per URL
    try:
        fetch(mirrored(download.url, mirror), archive, download.sha256 or recorded, md5=download.md5)
    except FetchError as e:
        if not recorded:
            raise
        raise FetchError(
            f"{e} The expected digest was recorded in {root / LOCK_FILE} at the first download on "
            f"{entry.get('recorded', '?')}; if the file was legitimately replaced upstream, delete its entry there "
            "to record the new one."
        ) from None
    sha256 = "" if published or recorded else file_digests(archive, ("sha256",))["sha256"]
    staging = Path(tempfile.mkdtemp(dir=archive.parent, prefix=f"staging-{download.filename}-"))
    try:
        if download.layout == "file":
            shutil.copyfile(archive, staging / download.filename)
        else:
            extract(archive, staging, download, progress)
        placed = get_layout(download.layout)(staging, root / download.into, download, spec)
    finally:
        remove_tree(staging)
    if sha256:  # recorded only now: a download that extracted and placed completely is the reference
        result.recorded.append(download.url)
        entry = {**entry, "sha256": sha256, "recorded": datetime.now(UTC).date().isoformat()}
    lock["files"][download.url] = {
        **entry,
        "digest": "published" if published else "recorded at first download",
        "placed": True,
    }
    write_lock(root, lock)
    if not keep_archives:
        archive.unlink(missing_ok=True)
    return placed


def extract(archive: Path, staging: Path, download: Download, progress: bool) -> None:
    """Safely extract ``archive`` into ``staging``; a damaged archive is deleted (the next fetch downloads it
    again) and reported."""
    import tarfile
    import zipfile

    if not is_archive(archive):
        archive.unlink()
        raise FetchError(
            f"{download.url} did not give a tar or zip archive (a web page or an error message?); the file was "
            "removed. Check the URL in a browser, or download it by hand into "
            f"{archive.parent} and run the fetch again."
        )
    try:
        safe_extract(archive, staging, progress=progress)
    except FetchError as e:  # an unsafe member: nothing was extracted
        archive.unlink(missing_ok=True)
        raise FetchError(
            f"{download.url}: {e}. Nothing was extracted and the archive was removed; if it is the genuine file, "
            "report the unsafe archive to the dataset's maintainers."
        ) from None
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as e:
        archive.unlink(missing_ok=True)
        raise FetchError(
            f"{archive.name} is damaged ({e}); it was removed, run the fetch again to download it anew"
        ) from None
