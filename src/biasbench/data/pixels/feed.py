"""Streaming a dataset to the engine: decoded uint8 batches in dataset order, from a data loader or from the
decoded-image cache, with undecodable files either stopping the run or skipped and counted.

A ``Feed`` is what the engine consumes (``biasbench.engine.inference.BatchSource``): it iterates
``(dataset indices, uint8 images (N, 3, H, W), labels)`` on the CPU, knows its length and name for the
progress bar, lists the files it skipped, and has a ``key`` naming exactly these batches (the clean-pass
memo's identity of the images).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from biasbench.data.datasets import Dataset
from biasbench.data.pixels.decoded_cache import cache_key, decoded_cache
from biasbench.data.pixels.images import ImageDataset, ImageTransform, collate


def default_workers(count: int, batch_size: int) -> int:
    """Data-loader workers when none are asked for: none for a dataset of at most two batches (starting
    worker processes would cost more than decoding), else up to four, leaving one core free."""
    return 0 if count <= 2 * batch_size else min(4, max(1, (os.cpu_count() or 2) - 1))


@dataclass
class Feed:
    """``dataset`` decoded under ``transform`` in batches of ``batch_size``, in dataset order.

    ``num_workers`` None picks ``default_workers``; ``skip_corrupt`` leaves undecodable files out (listed in
    ``skipped`` after each pass) instead of raising CorruptImageError naming them; ``cache`` streams from the
    decoded-image cache under ``cache_dir`` (default: the user cache), building the entry first if needed;
    ``pin_memory`` pins loader batches for a fast copy to a GPU."""

    dataset: Dataset
    transform: ImageTransform
    batch_size: int = 64
    num_workers: int | None = None
    skip_corrupt: bool = False
    cache: bool = False
    cache_dir: str | None = None
    progress: bool = True
    pin_memory: bool = False
    skipped: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.dataset.name

    def __len__(self) -> int:
        return len(self.dataset)

    @property
    def key(self) -> tuple:
        """The identity of the batches: the decoded cache's key of the images under the transform, the batch
        size and the corrupt-file policy."""
        return cache_key(self.dataset, self.transform), self.batch_size, self.skip_corrupt

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        self.skipped = []
        workers = self.num_workers
        if workers is None:
            workers = default_workers(len(self.dataset), self.batch_size)
        if self.cache:
            entry = decoded_cache(
                self.dataset, self.transform, self.cache_dir, num_workers=workers, progress=self.progress
            )
            loader = entry.batches(self.dataset, self.batch_size, self.skip_corrupt)
        else:
            loader = torch.utils.data.DataLoader(
                ImageDataset(self.dataset, self.transform, skip_corrupt=self.skip_corrupt),
                batch_size=self.batch_size,
                shuffle=False,
                num_workers=workers,
                collate_fn=collate,
                pin_memory=self.pin_memory,
            )
        labels = torch.tensor([s.label for s in self.dataset.samples], dtype=torch.long)
        for indices, images, bad in loader:
            self.skipped.extend(str(self.dataset.samples[i].path) for i in bad)
            if len(indices):
                yield indices, images, labels[indices]
