"""What is present under the data root: each dataset's status, count and expected layout."""

from __future__ import annotations

import os

import pandas as pd

from biasbench.core.errors import BiasbenchError
from biasbench.core.paths import resolve_data_root
from biasbench.data.datasets import registered_datasets


def dataset_status(data_root: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """One row per registered dataset: present / incomplete / missing, images found vs expected, where."""
    root = resolve_data_root(data_root)
    rows = []
    for name, spec in sorted(registered_datasets().items()):
        folder = spec.find(root)
        found, status, detail = 0, "missing", f"expected: {spec.layout}"
        if folder is not None:
            try:
                found = len(spec.list_samples(folder))
            except BiasbenchError as e:
                status, detail = "broken", str(e)
            else:
                complete = spec.expected_count is None or found == spec.expected_count
                status = "present" if complete else "incomplete"
                detail = str(folder) if complete else f"{folder}; expected layout: {spec.layout}"
        rows.append(
            {
                "dataset": name,
                "status": status,
                "images": found,
                "expected": spec.expected_count if spec.expected_count is not None else "",
                "where / layout": detail,
            }
        )
    frame = pd.DataFrame(rows)
    frame.attrs["root"] = str(root)
    return frame
