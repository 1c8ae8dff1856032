"""``reproduce gavrikov2025`` from the released decisions (skipped without the shared data). Every number is
checked against an independent computation with plain pandas from the raw CSVs, following the study's
``code/shapebias_utils.py`` (``shapebias_from_df``), and against the values the study states: humans 96 %,
prompts steering shape bias from 49 % to 72 %, the neutral prompt's 82.58 % / 59.43 % hard-coded in
``code/llm_prompt_search.py``, and 0.223 for tv_resnet50 (docs ANCHORS §8)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from biasbench.analysis.gavrikov2025 import FAMILIES, VQA_PROMPT, figure_rows, prompt_table
from biasbench.analysis.humans import compare_results
from biasbench.cli import app
from biasbench.report.gavrikov2025 import reproduce_gavrikov2025
from biasbench.run.imports import import_decisions
from tests.conftest import require

pytestmark = pytest.mark.realdata
runner = CliRunner()
RAW = "vlm-shapebias/raw-data"
CLIP_MODELS = {
    "clip_RN50_openai", "clip_RN101_openai", "ViT_L_14_openai", "ViT_L_14_336_openai",
    "EVA01_g_14_laion400m_s11b_b41k", "EVA02_E_14_plus_laion2b_s9b_b144k", "BAAI_EVA_CLIP_8B_448_None",
}  # fmt: skip


def study_metrics(path: Path) -> dict[str, float]:
    """shapebias_from_df of the study, written out with pandas: numbers stripped from both halves of the image
    name, the 80 same-category rows dropped, ratios over the remaining rows."""
    df = pd.read_csv(path)
    df["y_shape"] = df["image"].map(lambda x: "".join(c for c in x.split("-")[0] if not c.isdigit()))
    df["y_texture"] = df["image"].map(lambda x: "".join(c for c in x.split("-")[1] if not c.isdigit()))
    df = df.loc[df.y_shape != df.y_texture]
    shape_ratio = (df.pred_label == df.y_shape).mean()
    texture_ratio = (df.pred_label == df.y_texture).mean()
    return {
        "n": len(df),
        "accuracy": ((df.pred_label == df.y_texture) | (df.pred_label == df.y_shape)).mean(),
        "shape_bias": shape_ratio / (shape_ratio + texture_ratio),
        "n_shape": int((df.pred_label == df.y_shape).sum()),
        "n_texture": int((df.pred_label == df.y_texture).sum()),
    }


@pytest.fixture(scope="module")
def repro(data_root, tmp_path_factory):
    require(data_root, RAW)
    require(data_root, "texture-vs-shape/stimuli/style-transfer-preprocessed-512")
    out = tmp_path_factory.mktemp("gavrikov2025")
    return reproduce_gavrikov2025(out=out, data_root=data_root, n_boot=0), out


def test_every_released_file_matches_the_studys_definitions(repro, data_root):
    tables, _ = repro
    models = tables.models
    files = sorted((data_root / RAW).glob("*/*.csv")) + sorted((data_root / RAW).glob("vlm/[cv]*/*.csv"))
    assert len(models) == len(files) == 70
    for path in files:
        row = models.set_index("file").loc[str(path.relative_to(data_root / RAW))]
        expected = study_metrics(path)
        assert expected["n"] == row["n_conflict"] == 1200
        assert row["shape_bias"] == pytest.approx(expected["shape_bias"], abs=1e-12), path.name
        assert row["cue_accuracy"] == pytest.approx(expected["accuracy"], abs=1e-12), path.name
        assert (row["n_shape"], row["n_texture"]) == (expected["n_shape"], expected["n_texture"])
    counts = models["family"].value_counts().to_dict()
    assert counts == {"ImageNet classifiers": 7, "zero-shot CLIP": 21, "VLM multiple-choice": 19, "VLM captioning": 23}


def test_zero_shot_clip_models_under_three_templates(repro, data_root):
    table = prompt_table(repro[0].models, ["clip"])
    assert set(table.index) == CLIP_MODELS
    assert list(table.columns) == ["80 templates", "a photo of a {}.", "{}"]
    suffix = {"80 templates": "None", "a photo of a {}.": "a_photo_of_a_CLS.", "{}": "CLS"}
    for model in CLIP_MODELS:
        for template, stem in suffix.items():
            expected = study_metrics(data_root / RAW / "clip" / f"{model}_{stem}.csv")["shape_bias"]
            assert table.at[model, template] == pytest.approx(expected, abs=1e-12)
    # the figure shows each CLIP model once, at the 80-template ensemble (eval_clip.py's default)
    clip_rows = figure_rows(repro[0].models).query("family == 'zero-shot CLIP'")
    assert len(clip_rows) == 7 and set(clip_rows["prompt"]) == {"80 templates"}


def row_of(models: pd.DataFrame, family: str, model: str) -> pd.Series:
    (index,) = models.index[(models["family"] == family) & (models["model"] == model)]
    return models.loc[index]


def test_published_values(repro):
    tables, _ = repro
    assert round(row_of(tables.models, "ImageNet classifiers", "tv_resnet50")["shape_bias"], 3) == 0.223  # ANCHORS §8
    assert round(tables.human_shape_bias, 2) == 0.96  # "the strong human bias towards shape (96%)"
    # llm_prompt_search.py seeds the search with the neutral prompt at 82.58 % / 59.43 % (llava_1_6_vicuna_7b);
    # the released multiple-choice file is another run of that prompt: within one image and 0.3 points.
    neutral = row_of(tables.models, "VLM multiple-choice", "llava_1_6_vicuna_7b")
    assert abs(round(neutral["cue_accuracy"] * 1200) - round(0.8258 * 1200)) <= 1  # 992 vs 991 images
    assert abs(neutral["shape_bias"] - 0.5943) < 0.003
    # "we are able to steer shape bias from as low as 49% to as high as 72% through prompting alone"
    overall = tables.steering_summary.set_index("model").loc["all"]
    assert round(overall["shape_bias_min"], 2) == 0.49 and round(overall["kept_shape_bias_max"], 2) == 0.72
    assert overall["shape_bias_max"] == pytest.approx(0.822126, abs=1e-6)  # at 38 % cue accuracy only


def test_steering_table_against_the_released_search_and_the_neutral_files(repro, data_root):
    steering = repro[0].steering
    raw = pd.read_csv(data_root / RAW / "prompt_search_results.csv")
    assert len(steering) == len(raw) == 367
    ours, theirs = steering.set_index("step"), raw.set_index(raw.columns[0])
    assert ours.index.tolist() == theirs.index.tolist()
    assert ours["model"].tolist() == theirs["Model"].tolist() and ours["prompt"].tolist() == theirs["prompt"].tolist()
    assert (
        ours[["accuracy", "shape_bias"]].to_numpy().tolist() == theirs[["accuracy", "shape_bias"]].to_numpy().tolist()
    )
    assert (ours["instruction"] + " Options:" == theirs["prompt"].str.split(" Options:").str[0] + " Options:").all()
    for model, part in steering.groupby("model"):
        (vqa,) = (data_root / RAW / "vlm" / "vqa").glob(f"2024*_{model}.csv")
        expected = study_metrics(vqa)
        assert part["neutral_shape_bias"].unique() == pytest.approx([expected["shape_bias"]], abs=1e-12)
        assert part["neutral_accuracy"].unique() == pytest.approx([expected["accuracy"]], abs=1e-12)
        assert part["delta_shape_bias"].tolist() == pytest.approx(
            (part["shape_bias"] - expected["shape_bias"]).tolist()
        )
    summary = repro[0].steering_summary.set_index("model")
    for model, part in raw.groupby("Model"):
        kept = part[part["accuracy"] >= 0.5]
        assert summary.loc[model, ["prompts", "kept"]].tolist() == [len(part), len(kept)]
        assert summary.at[model, "shape_bias_min"] == part["shape_bias"].min()
        assert summary.at[model, "kept_shape_bias_max"] == kept["shape_bias"].max()
    assert "Which option best describes the image?\nA. airplane" in VQA_PROMPT and VQA_PROMPT.endswith("directly.")


def test_human_value_from_the_raw_human_trials(repro, data_root):
    trials = pd.concat(
        pd.read_csv(p) for p in sorted((data_root / "model-vs-human-raw-data/raw-data/cue-conflict").glob("*.csv"))
    )
    texture = trials["imagename"].map(lambda n: "".join(c for c in n.split("_")[-1].split(".")[0].split("-")[-1]
                                                         if not c.isdigit()))  # fmt: skip
    conflict = trials[trials["category"] != texture]
    n_shape = (conflict["object_response"] == conflict["category"]).sum()
    n_texture = (conflict["object_response"] == texture[trials["category"] != texture]).sum()
    assert repro[0].human_shape_bias == pytest.approx(n_shape / (n_shape + n_texture), abs=1e-12)


def test_outputs_and_cli(repro, data_root, tmp_path):
    _, out = repro
    for name in ("models.csv", "clip_templates.csv", "vlm_prompts.csv", "steering.csv", "steering_summary.csv"):
        assert (out / name).is_file(), name
    for stem in ("shape_bias_vs_accuracy", "prompt_steering"):
        assert (out / "figures" / f"{stem}.png").stat().st_size > 10_000 and (out / "figures" / f"{stem}.svg").is_file()
    assert len(pd.read_csv(out / "models.csv")) == 70
    result = runner.invoke(app, ["reproduce", "gavrikov2025", "--data-root", str(data_root), "--n-boot", "0"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "Zero-shot CLIP shape bias per template" in text and "clip_RN50_openai" in text
    assert "Human shape bias (model-vs-human, subjects pooled): 0.959" in text
    assert "VLM multiple-choice" in text and "Prompt search" in text


def test_an_imported_released_vlm_equals_its_reproduced_row_and_meets_the_humans(repro, data_root, tmp_path):
    """openai_vision's multiple-choice answers (131 without a category) through ``import decisions``: the
    records equal the reproduction's row, and the human comparison reads its no-decisions as wrong answers."""
    path = next((data_root / RAW / "vlm" / "vqa").glob("*_openai_vision.csv"))
    result = import_decisions(path, "openai_vision", tmp_path, prompt=VQA_PROMPT, data_root=data_root, bootstrap_reps=0)
    records = result.records.set_index("metric")["value"]
    row = row_of(repro[0].models, FAMILIES["vqa"].title, "openai_vision")
    assert records["shape_bias"] == pytest.approx(row["shape_bias"], abs=1e-12)
    assert (records["n_shape"], records["n_texture"]) == (row["n_shape"], row["n_texture"])
    assert result.decisions.n_no_decision == 131
    comparison = compare_results(tmp_path, data_root)
    summary = comparison.summary.set_index("observer")
    raw = pd.read_csv(path)
    shape = raw["image"].str.split("-").str[0].str.replace(r"\d", "", regex=True)
    assert summary.at["openai_vision", "accuracy16"] == pytest.approx((raw["pred_label"] == shape).mean(), abs=1e-12)
    assert summary.at["openai_vision", "shape_bias"] == pytest.approx(row["shape_bias"], abs=1e-12)
    manifest = json.loads(next((tmp_path / "jobs").glob("*.json")).read_text())
    assert manifest["params"]["prompt"] == VQA_PROMPT
