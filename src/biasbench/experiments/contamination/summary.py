"""Tables derived from the experiment's records: the end of training per config, and the analogue."""

from __future__ import annotations

import pandas as pd

from biasbench.experiments.contamination.run import DISTILL_PROBE, PROBE
from biasbench.store.conditions import TrainingStep

FINAL_COLUMNS = ("id_loss", "ood_loss", "id_acc", "ood_acc", "core_norm", "background_norm")


def training_curves(records: pd.DataFrame) -> pd.DataFrame:
    """The toy's records with ``config``, ``seed`` and ``step`` parsed from ``model`` and ``condition``."""
    frame = records[records["probe"] == PROBE].copy()
    parts = frame["model"].str.rsplit("/seed", n=1, expand=True)
    frame["config"], frame["seed"] = parts[0], parts[1].astype(int)
    frame["step"] = [TrainingStep.parse(c).step for c in frame["condition"]]
    return frame


def final_table(records: pd.DataFrame) -> pd.DataFrame:
    """Per config: the mean over seeds (and its std) of each metric at the last logged step."""
    curves = training_curves(records)
    last = curves[curves["step"] == curves.groupby("model")["step"].transform("max")]
    stats = last.groupby(["config", "metric"])["value"].agg(["mean", "std", "count"]).reset_index()
    table = stats.pivot(index="config", columns="metric", values="mean")
    table = table[[c for c in FINAL_COLUMNS if c in table.columns]]
    table.insert(0, "seeds", stats.groupby("config")["count"].max())
    table.insert(1, "steps", last.groupby("config")["step"].max())
    return table


def distill_table(records: pd.DataFrame) -> pd.DataFrame:
    """Per config: mean over seeds of the analogue's representation errors and probe accuracies."""
    frame = records[records["probe"] == DISTILL_PROBE].copy()
    if frame.empty:
        return pd.DataFrame()
    parts = frame["model"].str.extract(r"^(?P<config>.+)/seed\d+/(?P<role>teacher|student)$")
    frame["column"] = parts["role"] + " " + frame["metric"].str.replace("_", " ") + " " + frame["condition"]
    frame["config"] = parts["config"]
    wanted = [
        f"{role} {metric} {split}"
        for role, metric in (("student", "repr error"), ("teacher", "probe acc"), ("student", "probe acc"))
        for split in ("id", "ood")
    ]
    table = frame.pivot_table(index="config", columns="column", values="value", aggfunc="mean")
    return table[[c for c in wanted if c in table.columns]]
