"""What is present under the data root: each dataset's status, count, expected layout and how to fetch it."""

from __future__ import annotations

import os
from collections.abc import Sequence

import pandas as pd

from biasbench.core.errors import BiasbenchError
from biasbench.core.paths import resolve_data_root
from biasbench.data.datasets import DATASETS, DatasetSpec, get_dataset_spec


def fetch_hint(spec: DatasetSpec) -> str:
    """The command that downloads ``spec`` ("" when it has no public download)."""
    return f"biasbench fetch {spec.name}" if spec.downloads else ""


def dataset_status(data_root: str | os.PathLike[str] | None = None, names: Sequence[str] = ()) -> pd.DataFrame:
    """One row per dataset (every registered one, or ``names``, which may include ``folder:PATH``): present /
    incomplete / broken / missing, images found vs expected, where it is or what is wrong, and the command
    that fetches a missing or incomplete one."""
    root = resolve_data_root(data_root)
    specs = [get_dataset_spec(n) for n in names] if names else [s for _, s in sorted(DATASETS.items())]
    rows = []
    for spec in specs:
        folder = spec.find(root)
        found, status, detail = 0, "missing", spec.missing_message(root) if names else f"expected: {spec.layout}"
        if folder is not None:
            try:
                dataset = spec.load(root, check_count=False)
            except BiasbenchError as e:
                status, detail = "broken", str(e)
            else:
                found = len(dataset)
                status = "incomplete" if dataset.partial else "present"
                detail = (
                    f"{dataset.partial}. Measure it as it is with --partial, or fetch the rest"
                    if dataset.partial
                    else str(folder)
                )
        rows.append(
            {
                "dataset": spec.name,
                "status": status,
                "images": found,
                "expected": spec.expected_count if spec.expected_count is not None else "",
                "where / layout": detail,
                "fetch": fetch_hint(spec) if status != "present" else "",
            }
        )
    frame = pd.DataFrame(rows)
    frame.attrs["root"] = str(root)
    return frame
