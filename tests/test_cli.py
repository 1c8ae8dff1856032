import json

from typer.testing import CliRunner

from biasbench.cli import app
from tests.conftest import TINY_MODEL

runner = CliRunner()


def flat(text: str) -> str:
    """Output with rich's line wrapping undone."""
    return " ".join(text.split())


def test_run_then_results_in_every_format(generated_root, tmp_path):
    out = tmp_path / "res"
    args = [
        "run",
        "-m",
        TINY_MODEL,
        "-p",
        "accuracy",
        "-p",
        "shape-bias",
        "--out",
        str(out),
        "--limit",
        "8",
        "--data-root",
        str(generated_root),
        "--set",
        "shape-bias.bootstrap_reps=50",
    ]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "2 job(s) run, 0 skipped" in flat(first.output)
    second = runner.invoke(app, args)
    assert "skipping 2 finished job(s)" in flat(second.output) and "0 job(s) run, 2 skipped" in flat(second.output)

    as_json = json.loads(runner.invoke(app, ["results", str(out), "--format", "json"]).stdout)
    metrics = {(r["probe"], r["metric"]) for r in as_json}
    expected = {
        ("accuracy", "top1"),
        ("accuracy", "top5"),
        ("shape-bias", "shape_bias"),
        ("shape-bias", "shape_fraction"),
        ("shape-bias", "texture_fraction"),
        ("shape-bias", "top1"),
    }
    assert expected <= metrics
    assert {"model", "probe", "dataset", "metric", "condition", "value", "n", "ci_low", "ci_high"} <= set(as_json[0])
    assert all(r["n"] == 8 for r in as_json if r["metric"] == "top1")

    csv_text = runner.invoke(app, ["results", str(out), "--format", "csv", "--metric", "top1"]).stdout
    lines = csv_text.strip().splitlines()
    assert lines[0].startswith("model,probe,dataset,metric,condition,value,n") and len(lines) == 3
    assert sorted(line.split(",")[1] for line in lines[1:]) == ["accuracy", "shape-bias"]  # one top1 each
    assert "shape_bias" in runner.invoke(app, ["results", str(out)]).stdout


def test_bad_input_gives_clear_errors(generated_root, tmp_path):
    res = runner.invoke(
        app,
        [
            "run",
            "-m",
            "timm:test_resnet?pretrained=false",
            "-p",
            "shape-bais",
            "--out",
            str(tmp_path),
            "--data-root",
            str(generated_root),
        ],
    )
    assert res.exit_code == 2 and "unknown probe 'shape-bais'" in flat(res.output) and "shape-bias" in res.output
    res = runner.invoke(app, ["results", str(tmp_path / "none")])
    assert res.exit_code == 2 and "no results directory" in flat(res.output)
    res = runner.invoke(app, ["results", str(tmp_path), "--format", "xml"])
    assert res.exit_code == 2 and "unknown format" in flat(res.output)


def test_head_size_mismatch_is_explained(generated_root, tmp_path):
    res = runner.invoke(
        app,
        [
            "run",
            "-m",
            "timm:test_resnet?pretrained=false&num_classes=10",
            "-p",
            "accuracy",
            "--out",
            str(tmp_path),
            "--data-root",
            str(generated_root),
            "--limit",
            "2",
        ],
    )
    assert res.exit_code == 1 and "outputs 10 classes" in flat(res.output)


def test_listings(generated_root, tmp_path):
    models = runner.invoke(app, ["models"]).stdout
    assert "bundled" in models and "efficientnet_lite0" in models and "timm" in models
    probes = runner.invoke(app, ["probes"]).stdout
    assert "shape-bias" in probes and "cue-conflict" in probes
    present = runner.invoke(app, ["datasets", "--data-root", str(generated_root)]).stdout
    assert "present" in present and "1280" in present
    missing = runner.invoke(app, ["doctor", "--data-root", str(tmp_path)]).stdout
    assert "missing" in missing and "labels.csv" in missing
