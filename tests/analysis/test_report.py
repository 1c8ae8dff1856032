"""The HTML report of a results directory: self-contained, summary first, tables without indexes, and in
headless Chromium at 1440 × 900 no wider than the window, with no console message, every image loaded and
every table-of-contents link resolved: for a synthetic zoo, a demo-like results directory (with and without the
released study as context) and the reproduction of Gavrikov & Keuper."""

from __future__ import annotations

import json
import re

import pytest
import typer
from typer.testing import CliRunner

from biasbench.commands.analysis import register
from biasbench.store import ResultsStore

from .chromium import CHROMIUM, inspect
from .conftest import synthetic_records
from .report_fixtures import FAILED_FIT, write_demo_like

needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (CI: apt-get install -y chromium)")
SCORES = ("ID", "Robustness", "Concepts", "Adversarial")


def _cli(*args: str):
    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    records = synthetic_records(5)
    store = ResultsStore(root)
    for i, (model, part) in enumerate(records.groupby("model")):
        store.write(f"job{i}", part, None, {"model": model})
    categories = root / "cats.json"
    categories.write_text(json.dumps({"adversarial_training": ["m0", "m1", "m2"], "augmentation": ["m3", "m4"]}))
    out = root / "out" / "report.html"
    output = _cli("report", str(root), "--out", str(out), "--categories", str(categories), "--n-boot", "20")
    return out, output


@pytest.fixture(scope="module")
def demo_like(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    categories = write_demo_like(root)
    out = root / "report.html"
    _cli("report", str(root), "--out", str(out), "--categories", str(categories), "--n-boot", "20")
    return out


def assert_reads_well(path, min_images: int):
    """The browser checks of issue 20 at 1440 × 900; returns what was measured."""
    check = inspect(path)
    m = check.measured
    assert m["window_width"] == 1440 and m["page_width"] <= 1440, f"page {m['page_width']} px wide"
    assert check.console == []
    assert m["images"] >= min_images and m["broken_images"] == []
    assert m["toc_links"] == len(m["headings"]) and m["dangling_links"] == []
    assert 0 < m["summary_top"] < m["first_table_top"], "the summary precedes the first table"
    assert all(score in m["summary_text"] for score in SCORES)
    return m


def test_report_is_self_contained_with_figures_and_notes(report):
    out, output = report
    html = out.read_text()
    images = re.findall(r'<img [^>]*src="([^"]+)"', html)
    assert len(images) >= 5 and all(src.startswith("data:image/png;base64,") for src in images)
    assert not re.search(r"(src|href)=\"https?://", html)  # nothing fetched from a network
    assert "Notes: what is missing" in html and "No model has Critical band: bandwidth" in html
    figures = {p.name for p in (out.parent / "figures").iterdir()}
    assert {
        "shape_bias.png",
        "shape_bias.svg",
        "spectral_curves.svg",
        "critical_band.png",
        "correlation.png",
    } <= figures
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


def test_tables_have_no_index_and_units_and_sort_inline(report):
    html = report[0].read_text()
    assert 'class="dataframe"' not in html and "<th></th>" not in html  # no pandas index anywhere
    headers = re.findall(r"<th[^>]*>([^<]*)</th>", html)
    assert {"ID [%]", "Shape bias [fraction]", "Low-freq. bias (LPP) [ratio]"} <= set(headers)
    assert html.count('<div class="table-wrap">') == html.count("<table")  # wide tables scroll in their own box
    assert "<script src" not in html and "table.sortable" in html
    # the summary comes first and says which correction it used
    assert html.index('id="summary"') < html.index("<table") and "Holm-adjusted over the" in html
    # the statistics list only the steps that ran (20 bootstrap resamples, no joint prediction for 5 models)
    statistics = html[html.index('id="statistics"') :]
    assert "20 resamples" in statistics and "Joint prediction" not in statistics


def test_demo_like_report_says_failed_fits_and_every_si_score_factor(demo_like):
    html = demo_like.read_text()
    assert f"net_b: the channel fit failed ({FAILED_FIT})" in html
    assert 'title="' + FAILED_FIT + '"' in html  # the models table says it next to the model, not "–"
    figures = {p.name for p in (demo_like.parent / "figures").iterdir()}
    assert {
        "si_score_si-score-samples_area.png",
        "si_score_si-score-samples_location.png",
        "si_score_si-score-samples_rotation.png",
    } <= figures
    assert "Not run:" not in html
    assert "What these results cannot show" in html and "2 models" in html


@needs_chromium
def test_report_reads_well_in_chromium(report):
    assert_reads_well(report[0], 5)


@needs_chromium
def test_demo_like_report_reads_well_in_chromium(demo_like):
    assert_reads_well(demo_like, 6)


@pytest.fixture(scope="module")
def demo_in_context(tmp_path_factory, data_root):
    if not (data_root / "biases-vs-generalization" / "benchmark.csv").is_file():
        pytest.skip("the released Gavrikov & Keuper data are not under the data root")
    root = tmp_path_factory.mktemp("context")
    categories = write_demo_like(root)
    out = root / "report.html"
    _cli(
        "report",
        str(root),
        "--out",
        str(out),
        "--categories",
        str(categories),
        "--n-boot",
        "20",
        "--context",
        "gavrikov2024",
    )
    return out


def test_context_places_your_models_and_lists_what_is_not_comparable(demo_in_context):
    html = demo_in_context.read_text()
    assert 'id="placement"' in html and html.index('id="placement"') < html.index('id="models"')
    assert "Your 2 models among the 48 ResNet-50s" in html
    assert "the 1,000-image one-per-class sample of ImageNet val (study: the 50,000 ImageNet val images)" in html
    assert "steps = 10 (study: PGD-40)" in html and "not measured: needs accuracy on imagenet-a" in html
    assert "the channel fit failed" in html and 'class="yours"' in html
    figures = {p.name for p in (demo_in_context.parent / "figures").iterdir()}
    assert {"placement.png", "study-correlation.png", "study-scatter_shape_bias.png"} <= figures


@needs_chromium
def test_demo_in_context_reads_well_in_chromium(demo_in_context):
    assert_reads_well(demo_in_context, 10)


@needs_chromium
def test_reproduction_report_reads_well_in_chromium(data_root, tmp_path_factory):
    from biasbench.report.reproduce import reproduce_gavrikov2024

    folder = data_root / "biases-vs-generalization"
    if not (folder / "benchmark.csv").is_file():
        pytest.skip(f"{folder} lacks benchmark.csv")
    out = tmp_path_factory.mktemp("repro")
    reproduce_gavrikov2024(folder, out, n_boot=20, n_perm=19, methods=("spearman",))
    m = assert_reads_well(out / "report.html", 12)
    assert {"Summary", "Models", "Critical band", "Bias vs generalization", "Scatter plots"} <= set(m["headings"])
    html = (out / "report.html").read_text()
    assert "Siblings" in html and "holds largely by construction" in html


def test_heatmap_colours_only_significant_cells_and_never_prints_a_masked_zero():
    import pandas as pd
    from matplotlib.colors import to_rgba

    from biasbench.plots.correlation import NOT_SIGNIFICANT, correlation_panels

    cells = pd.DataFrame(
        [("shape_bias", "id", 0.8, 0.001, 0.004, 0.5, 0.9), ("shape_bias", "robustness", 0.3, 0.04, 0.08, 0.02, 0.55)],
        columns=["bias", "benchmark", "rho", "p", "p_holm", "ci_low", "ci_high"],
    ).assign(subset="total", method="spearman", control="none", n=20)
    fig = correlation_panels(cells, ("total",))
    panel, colour_bar = fig.axes
    texts = [t.get_text() for t in panel.texts]
    assert texts == ["0.80\n[0.50, 0.90]", "0.30 n.s.°\n[0.02, 0.55]"]  # the study's rule would print 0.00 here
    image = panel.images[0].get_array()
    assert image[0, 1].tolist() == pytest.approx(list(to_rgba(NOT_SIGNIFICANT)))  # grey, not a ρ colour
    assert image[0, 0, 0] > 0.5 and image[0, 0, 2] < 0.3  # ρ = 0.8 is red
    assert "Holm" in colour_bar.get_ylabel()
