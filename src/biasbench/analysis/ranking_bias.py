"""The ranking-based shape bias of REFINED-BIAS (Kim et al., 2026) beside the 16-class cue-conflict ratio of
Geirhos et al., per model, and how the two orders of models agree (Spearman across models).

Columns of ``ranking_bias_table`` (all read from stored records, one job per model and measurement):

- ``shape_bias``: the 16-class cue-conflict ratio n_shape / (n_shape + n_texture) (probe ``shape-bias``);
- ``shape_mrr``, ``texture_mrr``, ``shape_bias_mrr``: REFINED-BIAS's Shape-Sens, Texture-Sens and relative
  shape preference on the same cue-conflict images, ranked over all 1000 classes (probe ``shape-bias`` v3);
- ``rb_shape_mrr``, ``rb_texture_mrr``, ``rb_shape_preference``: the same on REFINED-BIAS's own pure-shape and
  pure-texture stimuli (probe ``refined-bias`` on ``refined-bias-shape`` / ``refined-bias-texture``), the
  preference RB_S / (RB_S + RB_T) as the authors define it.
"""

from __future__ import annotations

import pandas as pd

from biasbench.analysis.correlation import correlation_table
from biasbench.analysis.scores import SCORE_MEASUREMENT, normalise_records, one_per_model
from biasbench.analysis.selection import JobSelector
from biasbench.data.labels.ranks import relative_preference
from biasbench.store.metrics import probe_rows, select

# column -> (probe, dataset, metric) of its record (condition "")
RANKING_COLUMNS: dict[str, tuple[str, str, str]] = {
    "shape_bias": ("shape-bias", "cue-conflict", "shape_bias"),
    "shape_mrr": ("shape-bias", "cue-conflict", "shape_mrr"),
    "texture_mrr": ("shape-bias", "cue-conflict", "texture_mrr"),
    "shape_bias_mrr": ("shape-bias", "cue-conflict", "shape_bias_mrr"),
    "rb_shape_mrr": ("refined-bias", "refined-bias-shape", "mrr"),
    "rb_texture_mrr": ("refined-bias", "refined-bias-texture", "mrr"),
}
PREFERENCE = "rb_shape_preference"
# The rankings compared with the 16-class ratio.
RANKING_BIASES = ("shape_bias_mrr", PREFERENCE)


def ranking_bias_records(records: pd.DataFrame, selector: JobSelector | None = None) -> pd.DataFrame:
    """The records behind ``ranking_bias_table``: one per model and column (``RANKING_COLUMNS``), the column
    named in ``column``, with its value, CI and n (one job per model and measurement)."""
    wanted = {probe for probe, _, _ in RANKING_COLUMNS.values()}
    records = normalise_records(probe_rows(records, wanted))
    records = (selector or JobSelector()).select(records, SCORE_MEASUREMENT)
    records = records[records["condition"] == ""]
    parts = []
    for column, (probe, dataset, metric) in RANKING_COLUMNS.items():
        rows = select(records, probe, metric, dataset=dataset)
        parts.append(rows.assign(column=column))
    return pd.concat(parts, ignore_index=True) if parts else records.assign(column="")


def ranking_bias_table(records: pd.DataFrame, selector: JobSelector | None = None) -> pd.DataFrame:
    """Per model (rows): the 16-class shape bias and the ranking-based metrics (module docstring); NaN where a
    model lacks the job."""
    rows = ranking_bias_records(records, selector)
    columns = {column: one_per_model(rows[rows["column"] == column]) for column in RANKING_COLUMNS}
    table = pd.DataFrame(columns, columns=list(RANKING_COLUMNS)).astype(float)
    table[PREFERENCE] = [
        relative_preference(s, t) for s, t in zip(table["rb_shape_mrr"], table["rb_texture_mrr"], strict=True)
    ]
    return table.rename_axis("model").sort_index()


def ranking_vs_ratio(table: pd.DataFrame, *, n_boot: int = 1000, seed: int = 0, min_models: int = 3) -> pd.DataFrame:
    """Spearman correlation across models of the 16-class ``shape_bias`` with each ranking-based bias
    (``correlation_table``: p-value, seeded bootstrap CI, Holm / BH); cells with fewer than ``min_models``
    models are NaN."""
    return correlation_table(
        table[["shape_bias"]], table[list(RANKING_BIASES)], n_boot=n_boot, seed=seed, min_n=min_models
    )
