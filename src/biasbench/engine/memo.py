"""A memo of clean forward passes, so probes of one model on the same images share one unperturbed pass.

Accuracy, calibration, the clean conditions of spectral, corruption and adversarial all run the model on the same
unperturbed images; the engine keeps each pass's per-batch logits and replays them through any probe's reducer.

An entry can never be stale: it is found only for

- the very same model object, whose parameters and buffers are the same tensor objects (held by the memo, so
  their ids cannot be reused) with the same storage and unchanged in-place version counters (so resetting a
  layer, loading a state dict or an optimiser step all miss), in eval mode, with the same hooks;
- the same batches: the batch source's key (for a dataset feed, the decoded cache's key: file names, sizes,
  labels, modification times, the transform's class and preprocessing; then batch size and corrupt-file
  policy);
- the same engine configuration (device, precision, channels-last, batch size, corrupt-file policy).

The memo keeps the entries of one model at a time (a new model empties it) and at most ``max_bytes`` of logits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

DEFAULT_MAX_BYTES = 1 << 30


@dataclass
class CleanPass:
    """One clean pass: per batch (dataset indices, labels, float32 logits on the CPU), and skipped files."""

    batches: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def nbytes(self) -> int:
        return sum(logits.numel() * logits.element_size() for _, _, logits in self.batches)


def _state(model: torch.nn.Module) -> tuple[list[torch.Tensor], tuple]:
    """The model's tensors (kept, to compare by identity) and everything about them that a change would alter."""
    tensors = [*model.parameters(), *model.buffers()]
    versions = tuple((t._version, t.data_ptr(), t.dtype, t.device, tuple(t.shape)) for t in tensors)
    hooks = tuple((len(m._forward_hooks), len(m._forward_pre_hooks), m.training) for m in model.modules())
    return tensors, (versions, hooks)


class CleanMemo:
    """Clean-pass logits of the current model, keyed by (batch source key, engine configuration)."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES):
        self.max_bytes = max_bytes
        self._model: torch.nn.Module | None = None
        self._tensors: list[torch.Tensor] = []
        self._signature: tuple | None = None
        self._entries: dict[tuple, CleanPass] = {}

    def clear(self) -> None:
        """Forget every entry and the model they belong to."""
        self._model, self._tensors, self._signature, self._entries = None, [], None, {}

    def _valid_for(self, model: torch.nn.Module) -> bool:
        if self._model is not model:
            return False
        tensors, signature = _state(model)
        return (
            len(tensors) == len(self._tensors)
            and all(a is b for a, b in zip(tensors, self._tensors, strict=True))
            and signature == self._signature
        )

    def get(self, model: torch.nn.Module, key: tuple) -> CleanPass | None:
        """The stored clean pass of ``model`` for ``key``, or None (also when the model changed since)."""
        if not self._entries or not self._valid_for(model):
            return None
        return self._entries.get(key)

    @staticmethod
    def snapshot(model: torch.nn.Module) -> tuple[list[torch.Tensor], tuple]:
        """The model's state before a pass; ``put`` stores the pass only if the model still matches it."""
        return _state(model)

    def put(self, model: torch.nn.Module, key: tuple, clean: CleanPass, before: tuple[list, tuple]) -> None:
        """Store a finished clean pass computed from state ``before`` (ignored when the model changed during
        the pass, or when it would exceed ``max_bytes``)."""
        tensors, signature = _state(model)
        if signature != before[1] or any(a is not b for a, b in zip(tensors, before[0], strict=False)):
            return
        if len(tensors) != len(before[0]):
            return
        if not self._valid_for(model):
            self.clear()
            self._model, self._tensors, self._signature = model, tensors, signature
        if sum(e.nbytes for e in self._entries.values()) + clean.nbytes <= self.max_bytes:
            self._entries[key] = clean


@dataclass
class MemoRun:
    """How one engine run uses the memo. ``stored``: a pass of the same model on the same batches, whose clean
    logits the run reuses batch by batch (or replays without decoding when it asks for clean conditions only);
    otherwise ``recording``: the run's own clean pass, stored at the end if the model did not change meanwhile
    and it fits the memo. Neither for batches without a key or a run without a clean condition."""

    memo: CleanMemo
    model: torch.nn.Module
    key: tuple | None = None
    stored: CleanPass | None = None
    recording: CleanPass | None = None
    before: tuple[list, tuple] | None = None

    @classmethod
    def start(cls, memo: CleanMemo, model: torch.nn.Module, key: tuple | None) -> MemoRun:
        """The memo's use by a run of ``model`` on batches keyed ``key`` (None: no use)."""
        if key is None:
            return cls(memo, model)
        stored = memo.get(model, key)
        if stored is not None:
            return cls(memo, model, key, stored)
        return cls(memo, model, key, recording=CleanPass(), before=CleanMemo.snapshot(model))

    def clean(self, position: int, indices: torch.Tensor) -> torch.Tensor | None:
        """The stored clean logits of batch ``position`` when it holds the same samples (``indices``, on the CPU)."""
        if self.stored is None or position >= len(self.stored.batches):
            return None
        stored_indices, _, logits = self.stored.batches[position]
        return logits if torch.equal(stored_indices, indices) else None

    def add(self, indices: torch.Tensor, labels: torch.Tensor, clean: torch.Tensor | None) -> None:
        """Record one batch of the clean pass (``indices`` on the CPU); a pass that outgrows the memo is not kept."""
        if self.recording is not None and clean is not None:
            self.recording.batches.append((indices, labels.cpu(), clean.cpu()))
            if self.recording.nbytes > self.memo.max_bytes:
                self.recording = None

    def finish(self, skipped: list[str]) -> None:
        """Store the recorded pass (with the files it left out)."""
        if self.recording is not None:
            self.recording.skipped = list(skipped)
            self.memo.put(self.model, self.key, self.recording, self.before)
