"""The one results schema: long format, one row per number.

Naming convention of records (every probe follows it):

- ``metric`` says *what* is measured: ``top1``, ``top5``, ``ece``, ``shape_bias``, ``bandwidth``, ... A
  top-1 accuracy is always ``top1`` (in the dataset's label space), whichever probe measured it.
- ``condition`` says *under what* perturbation or subset, e.g. ``lowpass/0.3``, ``generated/fog/3``,
  ``pgd/linf/eps=0.5/255``, ``sigma/0.08/band/3`` or a layer name.
- The unperturbed images are condition ``""`` (empty) in every probe: the clean top-1 is ``top1`` at ``""``,
  never ``clean_accuracy`` or ``top1@clean``.
- A number that only selects a setting, not the measurement, keeps a name of its own: the transfer probe's
  ``val_top1`` (validation top-1 that picks α or the learning rate), critical-band's ``reference_accuracy``
  (condition: the reference rule).
- Per-sample tables (``samples.parquet``) keep the engine's own condition names (``clean`` included).
- Randomness comes from the job's one seed (``--seed``, ``ProbeContext.seed``); probes take no seeds of
  their own.
- ``caveat`` is empty for a number that means what its name says; otherwise it says why to read it with care,
  e.g. "rests on 1 of the 16 classes of cue-conflict (--limit 16, first)" for a job whose ``--limit`` sample
  misses classes of its dataset (set for every record of such a job). Shards written before the column
  existed read as "".
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import pandas as pd

RECORD_COLUMNS: tuple[str, ...] = (
    "model",
    "probe",
    "dataset",
    "metric",
    "condition",
    "value",
    "n",
    "ci_low",
    "ci_high",
    "job",
    "caveat",
)


@dataclass(frozen=True)
class Record:
    """One number a probe produced.

    ``condition`` names the perturbation or subset the number belongs to (``""`` for none), e.g.
    ``"lowpass/0.3"`` or a layer name; ``n`` is the number of samples behind it; ``caveat`` says why to read
    the number with care ("" when there is no reason).
    """

    metric: str
    value: float
    n: int = 0
    condition: str = ""
    ci_low: float = math.nan
    ci_high: float = math.nan
    caveat: str = ""


def records_frame(
    records: Iterable[Record], *, model: str, probe: str, dataset: str, job: str, caveat: str = ""
) -> pd.DataFrame:
    """Tidy DataFrame of ``records`` stamped with the job's identity, columns in schema order; ``caveat`` is
    given to every record that has none of its own."""
    rows = [asdict(r) for r in records]
    frame = pd.DataFrame(rows, columns=["metric", "value", "n", "condition", "ci_low", "ci_high", "caveat"])
    frame["model"], frame["probe"], frame["dataset"], frame["job"] = model, probe, dataset, job
    frame["caveat"] = frame["caveat"].where(frame["caveat"] != "", caveat)
    return frame.astype(
        {
            "value": "float64",
            "n": "int64",
            "ci_low": "float64",
            "ci_high": "float64",
            "condition": "string",
            "caveat": "string",
        }
    )[list(RECORD_COLUMNS)]
