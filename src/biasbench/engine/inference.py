"""The inference engine: take a source of decoded batches to the device, apply each condition's perturbation
in [0,1] pixel space, run the model once per condition, and keep only what the probe reduces per sample.

One decode per batch serves every condition, so a probe with 23 conditions decodes its images once. The
engine knows no dataset: it is handed a ``BatchSource`` (``biasbench.data.pixels.feed.Feed`` streams a dataset)
and a reducer (a label space's, ``biasbench.data.labels.spaces``), which ``biasbench.probes.outputs`` wires.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import ClassVar, Literal, Protocol

import numpy as np
import torch
from pydantic import NonNegativeInt, PositiveInt, field_validator, model_validator
from tqdm.auto import tqdm

from biasbench.core.errors import BiasbenchError
from biasbench.core.validation import Declared
from biasbench.engine.memo import CleanMemo, CleanPass, MemoRun
from biasbench.models.wrapper import Classifier

Perturbation = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""(images in [0,1] of shape (N,3,H,W), dataset indices (N,)) → perturbed images in [0,1]."""

Reducer = Callable[[torch.Tensor, "Batch"], Mapping[str, torch.Tensor]]
"""(logits (N,C) float32, batch) → per-sample arrays to keep, each with leading dimension N."""

CLEAN = "clean"


class BatchSource(Protocol):
    """What the engine runs over: CPU batches ``(dataset indices (N,), uint8 images (N,3,H,W), labels (N,))``
    in a fixed order, their total count and a name (progress bar), the files left out by the last pass, and a
    ``key`` naming exactly these batches (None: never memoised)."""

    name: str
    skipped: list[str]

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]: ...

    @property
    def key(self) -> Hashable | None: ...


class EngineConfig(Declared):
    """How to run models, the one configuration a run is given (CLI options, ``biasbench.run(engine=...)``),
    declared with its ranges so a bad value is refused when the plan is made.

    The engine itself uses the device (``auto`` picks CUDA when present), mixed precision (GPU only),
    channels-last memory format (on CPU too: it speeds up depthwise convolutions) and ``progress``. How a
    dataset is streamed to it (``batch_size``, data-loader ``num_workers``, what to do with undecodable
    images, the decoded-image cache) is the data feed's (``biasbench.data.pixels.feed.Feed``), built from these
    fields by ``biasbench.probes.outputs.feed_of``; they live here so that one object configures a run and
    keys its jobs (precision, batch size)."""

    option_names: ClassVar[Mapping[str, str]] = {
        "device": "--device",
        "batch_size": "--batch-size",
        "amp": "--amp",
        "channels_last": "--channels-last",
        "num_workers": "--workers",
        "on_corrupt": "--on-corrupt",
        "cache": "--cache",
    }

    device: str = "auto"
    batch_size: PositiveInt = 64
    amp: bool = False
    channels_last: bool = False
    num_workers: NonNegativeInt | None = None  # None: none for small datasets, else up to four
    on_corrupt: Literal["error", "skip"] = "error"  # "error" stops naming the file; "skip" leaves it out, counted
    progress: bool = True
    # Decode-once cache (biasbench.data.pixels.decoded_cache): each dataset is decoded once per preprocessing config
    # into uint8 shards under cache_dir (default: user cache dir/decoded) and streamed from there by every later model.
    cache: bool = False
    cache_dir: str | None = None

    @field_validator("device")
    @classmethod
    def _known_device(cls, device: str) -> str:
        if device != "auto":
            try:
                torch.device(device)
            except RuntimeError:
                raise ValueError("use cpu, cuda, cuda:N, mps or auto") from None
        return device

    @model_validator(mode="after")
    def _amp_needs_cuda(self) -> EngineConfig:
        if self.amp and torch.device(self.device if self.device != "auto" else "cuda").type != "cuda":
            raise ValueError(f"--amp is mixed precision on CUDA; drop --amp or use --device cuda, not {self.device}")
        return self

    @property
    def precision(self) -> str:
        """Numerics that can change results (part of a job's key): fp32, or AMP fp16 on CUDA. Decided by the
        requested device, not this machine's hardware, so a CPU-only head node plans GPU workers' jobs right."""
        on_cuda = self.device.startswith("cuda") or (self.device == "auto" and torch.cuda.is_available())
        return "amp-fp16" if self.amp and on_cuda else "fp32"

    def resolved_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise BiasbenchError("--device cuda was requested but no CUDA device is available; use --device cpu")
        return torch.device(self.device)


@dataclass
class Batch:
    """A batch on the device: dataset indices, images in [0,1] and labels."""

    indices: torch.Tensor
    images: torch.Tensor
    labels: torch.Tensor


@dataclass
class EngineResult:
    """Per-condition per-sample outputs in dataset order, the evaluated indices, and skipped files."""

    indices: np.ndarray
    outputs: dict[str, dict[str, np.ndarray]]
    skipped: list[str] = field(default_factory=list)


class Engine:
    """Runs wrapped models over datasets on one device."""

    def __init__(self, config: EngineConfig | None = None):
        self.config = config or EngineConfig()
        self.memo = CleanMemo()  # clean passes shared by the probes of one model (see biasbench.engine.memo)

    @cached_property
    def device(self) -> torch.device:
        """The device models run on, resolved where they run (a Ray driver without a GPU never asks)."""
        device = self.config.resolved_device()
        if self.config.amp and device.type != "cuda":
            warnings.warn("AMP is only used on CUDA; running in fp32", stacklevel=2)
        return device

    def prepare(self, model: Classifier) -> Classifier:
        """Move the model to the device in eval mode (channels-last memory format when asked)."""
        model = model.to(self.device).eval()
        if self.config.channels_last:
            model = model.to(memory_format=torch.channels_last)
        return model

    def logits(self, model: Classifier, x: torch.Tensor) -> torch.Tensor:
        """Forward pass in the configured precision; logits always come back as float32."""
        if self.config.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.config.amp and self.device.type == "cuda":
            with torch.autocast("cuda", dtype=torch.float16):
                return model(x).float()
        return model(x).float()

    def batches(self, source: BatchSource) -> Iterator[Batch]:
        """The batches of ``source`` on the device, as float images in [0,1]."""
        for indices, images, labels in source:
            x = images.to(self.device, non_blocking=True).float().div_(255.0)
            yield Batch(indices.to(self.device), x, labels.to(self.device))

    @torch.no_grad()
    def run(
        self,
        model: Classifier,
        source: BatchSource,
        reduce: Reducer,
        *,
        conditions: Mapping[str, Perturbation | None] | None = None,
        desc: str = "",
    ) -> EngineResult:
        """Evaluate ``model`` on every sample of ``source`` under every condition (``None`` = unperturbed)."""
        conditions = conditions or {CLEAN: None}
        model = self.prepare(model)
        clean_names = [name for name, perturb in conditions.items() if perturb is None]
        source_key = source.key if clean_names else None
        memo = MemoRun.start(self.memo, model, None if source_key is None else (source_key, self.config))
        kept = _Kept(list(conditions), reduce)
        if memo.stored is not None and len(clean_names) == len(conditions):
            return self._replay(memo.stored, clean_names, kept)  # clean only: no decoding at all
        bar = tqdm(
            total=len(source), desc=desc or source.name, unit="img", disable=not self.config.progress, leave=False
        )
        for position, batch in enumerate(self.batches(source)):
            indices = batch.indices.cpu()
            stored = memo.clean(position, indices)
            clean = self._forward(model, batch, conditions, None if stored is None else stored.to(self.device), kept)
            kept.indices.append(indices)
            memo.add(indices, batch.labels, clean)
            bar.update(len(batch.indices))
        bar.close()
        memo.finish(source.skipped)
        return kept.result(list(source.skipped))

    def _forward(
        self,
        model: Classifier,
        batch: Batch,
        conditions: Mapping[str, Perturbation | None],
        clean: torch.Tensor | None,
        kept: _Kept,
    ) -> torch.Tensor | None:
        """The logits of ``batch`` under every condition, each reduced into ``kept`` as it is computed; the
        unperturbed pass runs once (none when ``clean``, the stored one, is given). Returns the clean logits."""
        for name, perturb in conditions.items():
            if perturb is None:
                clean = self.logits(model, batch.images) if clean is None else clean
                logits = clean
            else:
                logits = self.logits(model, perturb(batch.images, batch.indices))
            kept.keep(name, logits, batch)
        return clean

    def _replay(self, stored: CleanPass, names: list[str], kept: _Kept) -> EngineResult:
        """A stored clean pass through this run's reducer, for the clean conditions ``names``."""
        for indices, labels, logits in stored.batches:
            kept.indices.append(indices)
            batch = Batch(indices.to(self.device), torch.empty(0, device=self.device), labels.to(self.device))
            for name in names:
                kept.keep(name, logits.to(self.device), batch)
        return kept.result(list(stored.skipped))


class _Kept:
    """What a run keeps: per condition, the reducer's per-sample arrays of each batch, and the batches' indices."""

    def __init__(self, conditions: list[str], reduce: Reducer):
        self.reduce = reduce
        self.values: dict[str, dict[str, list[torch.Tensor]]] = {c: {} for c in conditions}
        self.indices: list[torch.Tensor] = []

    def keep(self, condition: str, logits: torch.Tensor, batch: Batch) -> None:
        for key, value in self.reduce(logits, batch).items():
            self.values[condition].setdefault(key, []).append(value.detach().cpu())

    def result(self, skipped: list[str]) -> EngineResult:
        """The kept arrays in dataset order, the evaluated indices and the ``skipped`` files."""
        outputs = {c: {k: torch.cat(v).numpy() for k, v in d.items()} for c, d in self.values.items()}
        indices = torch.cat(self.indices).numpy() if self.indices else np.zeros(0, dtype=np.int64)
        return EngineResult(indices, outputs, skipped)
