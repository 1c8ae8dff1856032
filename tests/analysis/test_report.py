"""The HTML report of a results directory: self-contained, with figures, and rendering in Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
import typer
from typer.testing import CliRunner

from biasbench.commands.analysis import register
from biasbench.store import ResultsStore

from .conftest import synthetic_records

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    records = synthetic_records(5)
    store = ResultsStore(root)
    for i, (model, part) in enumerate(records.groupby("model")):
        store.write(f"job{i}", part, None, {"model": model})
    categories = root / "cats.json"
    categories.write_text(json.dumps({"adversarial_training": ["m0", "m1", "m2"], "augmentation": ["m3", "m4"]}))
    app = typer.Typer()
    register(app)
    out = root / "out" / "report.html"
    result = CliRunner().invoke(
        app, ["report", str(root), "--out", str(out), "--categories", str(categories), "--n-boot", "20"]
    )
    assert result.exit_code == 0, result.output
    return out, result.output


def test_report_is_self_contained_with_figures(report):
    out, output = report
    html = out.read_text()
    images = re.findall(r'<img [^>]*src="([^"]+)"', html)
    assert len(images) >= 5 and all(src.startswith("data:image/png;base64,") for src in images)
    assert not re.search(r"(src|href)=\"https?://", html)  # nothing fetched from a network
    assert "Notes: what is missing" in html and "critical-band" in html.lower()
    assert "No model has Critical band: bandwidth" in html  # missing biases are explained
    figures = {p.name for p in (out.parent / "figures").iterdir()}
    assert {"shape_bias.png", "shape_bias.svg", "spectral_curves.svg", "critical_band.png"} <= figures
    missing = [
        ("bandwidth", "bandwidth"),
        ("center freq.", "center_frequency"),
        ("peak noise sens.", "peak_noise_sensitivity"),
    ]
    notes = [
        f"No model has Critical band: {label}: run probe `critical-band` (records metric `{m}`)."
        for label, m in missing
    ]
    notes.append("explain: no bias is measured for >= 8 models; nothing to predict from.")
    # rich wraps at the terminal width and keeps every character: joining the lines gives the printed text
    assert output.replace("\n", "") == "".join(f"note: {n}" for n in notes) + f"Wrote {out}"


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (CI: apt-get install -y chromium)")
def test_report_renders_in_headless_chromium(report, tmp_path):
    out, _ = report
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
    ]  # fmt: skip
    dom = subprocess.run(
        [CHROMIUM, *flags, "--dump-dom", out.as_uri()], capture_output=True, text=True, timeout=60, check=True
    )
    assert dom.stdout.count("<img") >= 5 and "Bias vs generalization" in dom.stdout
    # chromium logs each page console message (errors and uncaught exceptions too) as ":INFO:CONSOLE..."
    assert [line for line in dom.stderr.splitlines() if ":CONSOLE" in line] == []
    shot = tmp_path / "shot.png"
    subprocess.run(
        [CHROMIUM, *flags, f"--screenshot={shot}", "--window-size=1200,2000", out.as_uri()],
        capture_output=True, timeout=60, check=True,
    )  # fmt: skip
    assert shot.is_file() and shot.stat().st_size > 10_000
