"""Decode-once image cache (opt-in with ``EngineConfig(cache=True)`` or ``biasbench run --cache``): a dataset
decoded and preprocessed once per preprocessing config, then streamed as uint8 batches by every model and
probe that uses the same config (``biasbench.data.pixels.feed`` chooses it).

One entry, ``<cache_dir>/<key>/``::

    pixels.u8    raw uint8: every sample's (3, H, W) pixels back to back (np.memmap-able)
    offsets.npy  int64 (N + 1,): sample i occupies bytes offsets[i]:offsets[i + 1]
    shapes.npy   int32 (N, 3): (3, H, W) per sample; zeros for an undecodable file
    meta.json    what the key covers, the count, and each undecodable file's reason (written last)

``key = digest(dataset fingerprint, file mtimes, transform key, format)``: a changed file list, size,
modification time or preprocessing lands in a new entry, never in a stale one. An entry is built in a
temporary folder and renamed into place, so readers never see a half-written entry and concurrent builders
(processes, Ray workers, nodes sharing a filesystem) are safe: the first rename wins, later ones discard
their copy. A lock file makes concurrent builders on one machine wait instead of decoding twice.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from biasbench.core.errors import BiasbenchError, CorruptImageError
from biasbench.core.fingerprint import digest
from biasbench.core.paths import user_cache_dir
from biasbench.data.datasets import Dataset
from biasbench.data.pixels.images import ImageTransform, collate

FORMAT = 2  # bump when the entry layout or the decoding changes (2: timm's own eval transform, floor resize)
DecodedBatch = tuple[torch.Tensor, torch.Tensor, list[int]]
"""(dataset indices, uint8 images (N,3,H,W), indices of undecodable files): what ``collate`` yields."""


def default_cache_dir() -> Path:
    """``user_cache_dir()/decoded`` (``$BIASBENCH_CACHE/decoded`` when set)."""
    return user_cache_dir() / "decoded"


def cache_key(dataset: Dataset, transform: ImageTransform) -> str:
    """The entry name of ``dataset`` under ``transform``. Modification times join the dataset fingerprint
    (names, sizes, labels) so that a file rewritten in place at the same size also invalidates the entry."""
    mtimes = [s.path.stat().st_mtime_ns for s in dataset.samples]
    kind = transform.cache_kind  # a subclass may decode differently
    return digest([FORMAT, dataset.fingerprint(), digest(mtimes), kind, transform.key], 24)


@dataclass(frozen=True)
class DecodedCache:
    """A finished cache entry, read with positioned reads (a batch at a time, so memory stays bounded)."""

    folder: Path
    offsets: np.ndarray
    shapes: np.ndarray
    errors: dict[int, str]  # sample index → why it could not be decoded

    @classmethod
    def open(cls, folder: Path) -> DecodedCache:
        meta = json.loads((folder / "meta.json").read_text())
        return cls(
            folder,
            np.load(folder / "offsets.npy"),
            np.load(folder / "shapes.npy"),
            {int(i): reason for i, reason in meta["errors"].items()},
        )

    def __len__(self) -> int:
        return len(self.shapes)

    def batches(self, dataset: Dataset, batch_size: int, skip_corrupt: bool) -> Iterator[DecodedBatch]:
        """Batches in dataset order with the uncached path's semantics: an undecodable file raises
        CorruptImageError naming it, or with ``skip_corrupt`` is left out and reported by index."""
        if len(dataset) != len(self):
            raise BiasbenchError(f"decoded cache {self.folder} holds {len(self)} images, dataset has {len(dataset)}")
        with (self.folder / "pixels.u8").open("rb", buffering=0) as f:
            for start in range(0, len(self), batch_size):
                stop = min(start + batch_size, len(self))
                for i in range(start, stop):
                    if i in self.errors and not skip_corrupt:
                        raise CorruptImageError(str(dataset.samples[i].path), self.errors[i])
                yield self._read(f, start, stop)

    def _read(self, f, start: int, stop: int) -> DecodedBatch:
        lo, hi = int(self.offsets[start]), int(self.offsets[stop])
        buffer = np.empty(hi - lo, dtype=np.uint8)
        f.seek(lo)
        if f.readinto(memoryview(buffer)) != hi - lo:
            raise BiasbenchError(f"decoded cache {self.folder} is truncated; delete the folder to rebuild it")
        shapes = self.shapes[start:stop]
        if not any(start <= i < stop for i in self.errors) and (shapes == shapes[0]).all():
            # The common case: one read, zero copies.
            indices = torch.arange(start, stop, dtype=torch.long)
            return indices, torch.from_numpy(buffer).view(stop - start, *shapes[0].tolist()), []
        items = []
        for i in range(start, stop):
            a, b = int(self.offsets[i]) - lo, int(self.offsets[i + 1]) - lo
            ok = i not in self.errors
            items.append((i, torch.from_numpy(buffer[a:b]).view(*self.shapes[i].tolist()) if ok else None, ok))
        return collate(items)


def decoded_cache(
    dataset: Dataset,
    transform: ImageTransform,
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    num_workers: int = 0,
    progress: bool = True,
) -> DecodedCache:
    """The cache entry of ``dataset`` under ``transform``, decoding it first if no process has yet."""
    root = Path(cache_dir) if cache_dir else default_cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    key = cache_key(dataset, transform)
    final = root / key
    if not (final / "meta.json").is_file():
        with _build_lock(root / f".{key}.lock"):
            if not (final / "meta.json").is_file():  # another builder may have finished while we waited
                _build(dataset, transform, key, final, num_workers, progress)
    return DecodedCache.open(final)


@contextlib.contextmanager
def _build_lock(path: Path):
    """Exclusive advisory lock, so builders on one machine wait for each other instead of decoding twice.
    Correctness does not depend on it (the rename does); where flock is unavailable it is a no-op."""
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    with path.open("a") as f:
        with contextlib.suppress(OSError):  # filesystems without flock support (some network mounts)
            fcntl.flock(f, fcntl.LOCK_EX)
        yield


class _DecodeItems(torch.utils.data.Dataset):
    """(index, uint8 pixels or None, reason) per sample, for the data loader that builds an entry."""

    def __init__(self, dataset: Dataset, transform: ImageTransform):
        self.paths = [s.path for s in dataset.samples]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        try:
            return i, self.transform(self.paths[i]).numpy(), ""
        except CorruptImageError as e:
            cause = e.__cause__
            # The same reason decode_rgb puts in its message, so cached and uncached errors read alike.
            return i, None, (str(cause) or type(cause).__name__) if cause else str(e)


def _as_list(items):
    return items


def _build(dataset: Dataset, transform: ImageTransform, key: str, final: Path, workers: int, progress: bool) -> None:
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{key}.", suffix=".tmp"))
    try:
        shapes = np.zeros((len(dataset), 3), dtype=np.int32)
        errors: dict[int, str] = {}
        loader = torch.utils.data.DataLoader(
            _DecodeItems(dataset, transform), batch_size=16, num_workers=workers, collate_fn=_as_list
        )
        bar = tqdm(
            total=len(dataset),
            desc=f"decoding {dataset.name} into the cache",
            unit="img",
            disable=not progress,
            leave=False,
        )
        with (tmp / "pixels.u8").open("wb") as f:
            for items in loader:  # in dataset order, so pixels are appended sequentially
                for i, pixels, reason in items:
                    if pixels is None:
                        errors[i] = reason
                    else:
                        shapes[i] = pixels.shape
                        f.write(pixels.tobytes())
                bar.update(len(items))
        bar.close()
        offsets = np.zeros(len(dataset) + 1, dtype=np.int64)
        np.cumsum(shapes.prod(axis=1, dtype=np.int64), out=offsets[1:])
        np.save(tmp / "offsets.npy", offsets)
        np.save(tmp / "shapes.npy", shapes)
        meta = {
            "format": FORMAT,
            "dataset": dataset.name,
            "count": len(dataset),
            "transform": transform.key,
            "fingerprint": dataset.fingerprint(),
            "errors": {str(i): r for i, r in errors.items()},
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / "meta.json").is_file():
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # another builder won the race with identical content
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
