"""The one results schema: long format, one row per number."""

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
)


@dataclass(frozen=True)
class Record:
    """One number a probe produced.

    ``condition`` names the perturbation or subset the number belongs to (``""`` for none), e.g.
    ``"lowpass/0.3"`` or a layer name; ``n`` is the number of samples behind it.
    """

    metric: str
    value: float
    n: int = 0
    condition: str = ""
    ci_low: float = math.nan
    ci_high: float = math.nan


def records_frame(records: Iterable[Record], *, model: str, probe: str, dataset: str, job: str) -> pd.DataFrame:
    """Tidy DataFrame of ``records`` stamped with the job's identity, columns in schema order."""
    rows = [asdict(r) for r in records]
    frame = pd.DataFrame(rows, columns=["metric", "value", "n", "condition", "ci_low", "ci_high"])
    frame["model"], frame["probe"], frame["dataset"], frame["job"] = model, probe, dataset, job
    return frame.astype(
        {"value": "float64", "n": "int64", "ci_low": "float64", "ci_high": "float64", "condition": "string"}
    )[list(RECORD_COLUMNS)]
