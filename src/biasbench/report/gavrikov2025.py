"""Reproduction of Gavrikov, Lukasik, Jung, Geirhos, Mirza, Keuper & Keuper, *Can We Talk Models Into Seeing the
World Differently?* (ICLR 2025) from its released per-image decisions (``paulgavrikov/vlm_shapebias``,
``raw-data/``): shape bias and cue accuracy per model and prompt, the overview figure by family with the human
value of model-vs-human, and the prompt search beside the neutral prompt. The numbers are
``biasbench.analysis.gavrikov2025``'s."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from biasbench.analysis.gavrikov2025 import (
    Gavrikov2025Tables,
    analyse_gavrikov2025,
    figure_rows,
    prompt_table,
)
from biasbench.plots.cue_conflict import shape_bias_vs_accuracy, steering_figure
from biasbench.plots.figures import save
from biasbench.report.html import FIGURES_DIR

OVERVIEW = "shape_bias_vs_accuracy"
STEERING = "prompt_steering"


def reproduce_gavrikov2025(
    data: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    *,
    data_root: str | os.PathLike[str] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    min_accuracy: float = 0.5,
    progress: Callable[[Path], None] | None = None,
) -> Gavrikov2025Tables:
    """The reproduction's tables (see ``analyse_gavrikov2025``; ``n_boot`` bootstrap resamples for the shape-bias
    CIs, 0 for none). With ``out``: models.csv (one row per released file), clip_templates.csv, vlm_prompts.csv,
    steering.csv (every searched prompt beside the neutral one), steering_summary.csv and the figures
    ``figures/shape_bias_vs_accuracy`` and ``figures/prompt_steering`` (PNG + SVG)."""
    tables = analyse_gavrikov2025(data, data_root, seed=seed, reps=n_boot, min_accuracy=min_accuracy, progress=progress)
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        tables.models.to_csv(out / "models.csv", index=False)
        prompt_table(tables.models, ["clip"]).to_csv(out / "clip_templates.csv")
        prompt_table(tables.models, ["vqa", "captioning"]).to_csv(out / "vlm_prompts.csv")
        tables.steering.to_csv(out / "steering.csv", index=False)
        tables.steering_summary.to_csv(out / "steering_summary.csv", index=False)
        overview = shape_bias_vs_accuracy(
            figure_rows(tables.models),
            tables.human_shape_bias,
            "Cue-conflict shape bias vs cue accuracy (zero-shot CLIP: 80-template ensemble)",
        )
        save(overview, out / FIGURES_DIR, OVERVIEW)
        save(steering_figure(tables.steering, tables.human_shape_bias, min_accuracy), out / FIGURES_DIR, STEERING)
    return tables
