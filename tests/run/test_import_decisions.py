"""``biasbench import decisions``: a VLM's per-image answers become the model's shape-bias job. Every number is
checked against an independent computation with plain pandas from the CSV written here (the study's
``shapebias_from_df`` rules for the cue counts; model-vs-human's division by all 1,280 images for fractions)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from biasbench.api import import_decisions, load_results
from biasbench.cli import app
from biasbench.data.datasets import load_dataset
from biasbench.data.labels.categories16 import CATEGORIES16
from biasbench.probes.shape_bias import ShapeBias
from biasbench.store.results import ResultsStore

runner = CliRunner()
PROMPT = "Which option best describes the image?\nA. airplane\n..."


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def answers(generated_root, tmp_path_factory):
    """A decisions CSV over the generated stimuli, shuffled, with shape, texture, other-category, empty, "None"
    and non-category answers, a confidence and a raw response column."""
    names = [s.path.stem for s in load_dataset("cue-conflict", generated_root).samples]
    rng = np.random.default_rng(7)
    shape = [n.split("-")[0].rstrip("0123456789") for n in names]
    texture = [n.split("-")[1].rstrip("0123456789") for n in names]
    kind = rng.choice(
        ["shape", "texture", "other", "empty", "None", "word"], len(names), p=[0.4, 0.3, 0.1, 0.08, 0.06, 0.06]
    )
    labels = [
        {"shape": s, "texture": t, "other": CATEGORIES16[(CATEGORIES16.index(s) + 3) % 16], "empty": "",
         "None": "None", "word": "a blur"}[k]
        for k, s, t in zip(kind, shape, texture, strict=True)
    ]  # fmt: skip
    frame = pd.DataFrame({"image": names, "pred_label": labels, "pred_conf": rng.uniform(size=len(names))})
    frame["response"] = "The image shows " + frame["pred_label"]
    path = tmp_path_factory.mktemp("vlm") / "answers.csv"
    frame.sample(frac=1, random_state=1).to_csv(path, index=False)
    return path


def independent(path) -> dict[str, float]:
    """Counts and metrics straight from the CSV, as the study's shapebias_from_df and model-vs-human define them."""
    df = pd.read_csv(path)
    shape = df["image"].str.split("-").str[0].str.replace(r"\d", "", regex=True)
    texture = df["image"].str.split("-").str[1].str.replace(r"\d", "", regex=True)
    label = df["pred_label"]
    conflict = shape != texture
    n_shape = int(((label == shape) & conflict).sum())
    n_texture = int(((label == texture) & conflict).sum())
    return {
        "n_shape": n_shape,
        "n_texture": n_texture,
        "shape_bias": n_shape / (n_shape + n_texture),
        "shape_fraction": n_shape / len(df),
        "texture_fraction": n_texture / len(df),
        "top1": float((label == shape).mean()),
        "cue_accuracy": (n_shape + n_texture) / int(conflict.sum()),
        "no_decision": int((~label.isin(CATEGORIES16)).sum()),
    }


def test_records_match_the_independent_computation(answers, generated_root, tmp_path):
    result = import_decisions(answers, "vlm-x", tmp_path / "res", prompt=PROMPT, data_root=generated_root,
                              bootstrap_reps=300, seed=4)  # fmt: skip
    expected = independent(answers)
    got = result.records.set_index("metric")
    assert result.imported
    assert set(got.index) == {"shape_bias", "shape_fraction", "texture_fraction", "top1", "n_shape", "n_texture"}
    for metric in ("shape_bias", "shape_fraction", "texture_fraction", "top1", "n_shape", "n_texture"):
        assert got.at[metric, "value"] == pytest.approx(expected[metric], abs=1e-12), metric
    assert got.at["shape_bias", "n"] == expected["n_shape"] + expected["n_texture"]
    assert got.at["n_shape", "n"] == 1200 and got.at["top1", "n"] == 1280
    assert result.decisions.n_no_decision == expected["no_decision"]
    assert (got["model"] == "vlm-x").all() and (got["probe"] == "shape-bias").all()


def test_shape_bias_ci_is_the_seeded_percentile_bootstrap_over_the_conflict_images(answers, generated_root, tmp_path):
    result = import_decisions(answers, "vlm-x", tmp_path, prompt=PROMPT, data_root=generated_root,
                              bootstrap_reps=400, seed=4)  # fmt: skip
    df = pd.read_csv(answers)
    shape = df["image"].str.split("-").str[0].str.replace(r"\d", "", regex=True)
    texture = df["image"].str.split("-").str[1].str.replace(r"\d", "", regex=True)
    df = df.assign(shape=shape, texture=texture, path=shape + "/" + df["image"] + ".png").sort_values("path")
    df = df[df["shape"] != df["texture"]]  # the 1,200 conflict images in the stimuli's (path) order
    is_shape, is_texture = (df["pred_label"] == df["shape"]).to_numpy(), (df["pred_label"] == df["texture"]).to_numpy()
    rng = np.random.default_rng(4)  # percentile bootstrap: 400 index draws with replacement, seeded by the job
    draws = [rng.integers(0, len(df), len(df)) for _ in range(400)]
    reps = [is_shape[i].sum() / (is_shape[i].sum() + is_texture[i].sum()) for i in draws]
    row = result.records.set_index("metric").loc["shape_bias"]
    assert row["ci_low"] == pytest.approx(np.quantile(reps, 0.025), abs=1e-12)
    assert row["ci_high"] == pytest.approx(np.quantile(reps, 0.975), abs=1e-12)
    assert row["ci_low"] < row["value"] < row["ci_high"]


def test_samples_keep_every_decision_and_no_decision_is_minus_one(answers, generated_root, tmp_path):
    result = import_decisions(answers, "vlm-x", tmp_path, prompt=PROMPT, data_root=generated_root, bootstrap_reps=10)
    samples = ResultsStore(tmp_path).samples(result.job.key)
    assert len(samples) == 1280 and (samples["condition"] == "clean").all()
    by_file = pd.read_csv(answers).set_index("image")
    stem = samples["file"].str.split("/").str[-1].str.removesuffix(".png")
    expected = by_file.loc[stem, "pred_label"].map(lambda x: CATEGORIES16.index(x) if x in CATEGORIES16 else -1)
    assert samples["decision"].tolist() == expected.tolist()
    assert np.allclose(samples["confidence"], by_file.loc[stem, "pred_conf"])
    assert samples["response"].iloc[0].startswith("The image shows")


def test_job_key_is_the_content_of_file_prompt_and_probe_version(answers, generated_root, tmp_path, monkeypatch):
    out = tmp_path / "res"
    first = import_decisions(answers, "vlm-x", out, prompt=PROMPT, data_root=generated_root, bootstrap_reps=10)
    again = import_decisions(answers, "vlm-x", out, prompt=PROMPT, data_root=generated_root, bootstrap_reps=10)
    assert not again.imported and again.job.key == first.job.key
    values = lambda r: r.set_index("metric")["value"].sort_index().tolist()  # noqa: E731
    assert values(again.records) == values(first.records)
    other_prompt = import_decisions(answers, "vlm-x", out, prompt="Describe the image.", data_root=generated_root,
                                    bootstrap_reps=10)  # fmt: skip
    assert other_prompt.job.key != first.job.key
    edited = tmp_path / "edited.csv"
    text = answers.read_text()
    edited.write_text(text[:-2] + ("1" if text[-2] != "1" else "2") + "\n")  # one confidence digit changed
    assert import_decisions(edited, "vlm-x", out, prompt=PROMPT, data_root=generated_root,
                            bootstrap_reps=10).job.key != first.job.key  # fmt: skip
    monkeypatch.setattr(ShapeBias, "version", ShapeBias.version + 1)
    assert import_decisions(answers, "vlm-x", out, prompt=PROMPT, data_root=generated_root,
                            bootstrap_reps=10).job.key != first.job.key  # fmt: skip
    manifest = ResultsStore(out).manifest(first.job.key)
    assert manifest["params"] == {"bootstrap_reps": 10, "prompt": PROMPT}
    assert manifest["model_fingerprint"] == hashlib.sha256(answers.read_bytes()).hexdigest()
    assert manifest["source"]["sha256"] == manifest["model_fingerprint"]
    assert manifest["precision"] == "imported" and manifest["probe"] == "shape-bias"
    assert manifest["source"]["no_decision"] == independent(answers)["no_decision"]
    assert manifest["source"]["other_labels"][""] == int(pd.read_csv(answers)["pred_label"].isna().sum())


def test_cli_imports_and_results_lists_the_vlm_next_to_measured_models(answers, generated_root, tmp_path):
    out = tmp_path / "res"
    prompt_file = tmp_path / "prompt.txt"
    prompt_file.write_text(PROMPT + "\n")
    args = ["import", "decisions", str(answers), "--model", "vlm-x", "--prompt-file", str(prompt_file),
            "--out", str(out), "--data-root", str(generated_root), "--bootstrap-reps", "20"]  # fmt: skip
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "answers name no category (no decision)" in flat(first.output) and "'a blur'" in first.output
    assert "imported into" in flat(first.output)
    assert "already in" in flat(runner.invoke(app, args).output)
    listed = runner.invoke(app, ["results", str(out), "--format", "json", "--metric", "shape_bias"])
    rows = json.loads(listed.output)
    assert [(r["model"], r["probe"], r["dataset"]) for r in rows] == [("vlm-x", "shape-bias", "cue-conflict")]
    assert rows[0]["value"] == pytest.approx(independent(answers)["shape_bias"])
    manifest = next(iter(ResultsStore(out).manifests()))
    assert manifest["params"]["prompt"] == PROMPT
    assert len(load_results(out)) == 6


def test_cli_errors(answers, generated_root, tmp_path):
    base = ["import", "decisions", str(answers), "--model", "m", "--out", str(tmp_path), "--data-root",
            str(generated_root)]  # fmt: skip
    no_prompt = runner.invoke(app, base)
    assert no_prompt.exit_code == 2 and "--prompt TEXT or --prompt-file PATH" in flat(no_prompt.output)
    bad = tmp_path / "bad.csv"
    pd.read_csv(answers).iloc[5:].to_csv(bad, index=False)
    broken = runner.invoke(app, [*base[:2], str(bad), *base[3:], "--prompt", "p"])
    assert broken.exit_code == 2 and "5 of the 1280 stimuli have no row" in flat(broken.output)
    assert not (tmp_path / "jobs").exists()  # nothing written for a broken file


def test_two_prompts_of_one_model_are_two_jobs_the_analysis_tells_apart(answers, generated_root, tmp_path):
    from biasbench.analysis.selection import JobSelectionError, JobSelector

    a = import_decisions(answers, "vlm-x", tmp_path, prompt=PROMPT, data_root=generated_root, bootstrap_reps=10)
    b = import_decisions(answers, "vlm-x", tmp_path, prompt="Describe the image.", data_root=generated_root,
                         bootstrap_reps=10)  # fmt: skip
    store = ResultsStore(tmp_path)
    records = store.records()
    measurement = ["dataset", "metric", "condition"]
    with pytest.raises(JobSelectionError) as info:
        JobSelector(store.manifests_by_job()).select(records, measurement)
    message = str(info.value)
    assert "prompt=Describe the image." in message and r"prompt=Which option best describes the image?\n" in message
    prefer = {"shape-bias": {"params.prompt": "Describe the image."}}
    chosen = JobSelector(store.manifests_by_job(), prefer).select(records, measurement)
    assert set(chosen["job"]) == {b.job.key} and a.job.key != b.job.key
