"""The contract every registered probe keeps, on tiny random models and generated data: the unperturbed
condition equals the clean result, batch size does not change a record, a seed fixes every record (and,
where the probe draws at random, another seed changes the drawn ones), and it emits exactly the metrics it
declares. Parametrised over the registry: a new probe is covered once it has a row in ``CASES``."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from biasbench.data.datasets import get_dataset_spec
from biasbench.engine import Engine, EngineConfig
from biasbench.probes import PROBES, ProbeContext, get_probe
from tests.conftest import make_cue_conflict, make_imagenet_sample, require
from tests.fixtures_layouts import make_imagenet_vid_robust, make_refined_bias


@dataclass(frozen=True)
class Case:
    """How one probe is run cheaply: dataset, image count, parameters, and why they suffice."""

    dataset: str
    limit: int | None
    params: dict
    why: str
    # (metric, condition) of the clean result and of the unperturbed condition that must equal it; () none
    unperturbed: tuple[tuple[str, str], tuple[str, str]] | tuple = ()
    # metrics drawn at random from the seed (they differ for another seed); () a deterministic probe
    stochastic: tuple[str, ...] = ()
    realdata: bool = False
    extra: dict = field(default_factory=dict)


CASES: dict[str, Case] = {
    "accuracy": Case("imagenet-sample", 5, {}, "top-1/top-5 need only a few labelled images"),
    "adversarial": Case(
        "imagenet-sample",
        5,
        {"steps": 2, "epsilon": (0.0, 8 / 255)},
        "2 PGD steps exercise the random start and the update; eps = 0 is the unperturbed attack",
        unperturbed=(("top1", ""), ("robust_accuracy", "pgd/linf/eps=0/255")),
        stochastic=(),
    ),
    "calibration": Case("imagenet-sample", 6, {"n_bins": 3}, "3 bins over 6 images: every bin rule is exercised"),
    "corruption": Case(
        "imagenet-sample",
        5,
        {"mode": "generated", "corruptions": ("gaussian_noise",), "severities": (1,)},
        "one generated corruption (drawn from the seed) at one severity",
        stochastic=("top1", "corruption_accuracy", "ce", "mean_accuracy"),
    ),
    "critical-band": Case(
        "imagenet-sample",
        2,
        {"adaptive": True},
        "the adaptive search on 2 images; noise drawn from the seed",
    ),
    "criticality": Case(
        "imagenet-sample",
        None,
        {"num_images": 4, "trials": 1, "layers": "conv1,fc"},
        "two layers, one trial on 4 images: the re-initialisation is drawn from the seed",
    ),
    "refined-bias": Case("refined-bias-texture", None, {"bootstrap_reps": 20}, "one image per class, 20 resamples"),
    "resolution": Case(
        "imagenet-sample",
        6,
        {"resolutions": (32, 48), "protocols": ("naive",)},
        "two test resolutions, naive protocol (the bn protocol's known batch dependence: its own test below)",
    ),
    "shape-bias": Case("cue-conflict", 20, {"bootstrap_reps": 20}, "20 of its stimuli (generated), 20 resamples"),
    "si-score": Case(
        "si-score-samples",
        12,
        {"variant": "size", "mini": True},
        "the mini size variant of the released samples (no generator for the assets)",
        realdata=True,
    ),
    "spectral": Case(
        "imagenet-sample",
        4,
        {"cutoffs": (0.3, 1.0), "bias_cutoffs": (0.3,)},
        "cut-off 1.0 keeps every frequency: the unperturbed condition",
        unperturbed=(("top1", ""), ("top1", "lowpass/1")),
    ),
    "transfer": Case(
        "sklearn-digits",
        None,
        {"shots": 20, "max_test": 20, "alphas": (1.0, 10.0)},
        "20 shots and 20 test digits: the ridge fit and the alpha choice",
    ),
    "pm-k": Case("imagenet-vid-robust", None, {}, "the layout fixture's two snippets"),
}

BATCH_SIZES = (1, 7, 32)
# Float tolerance across batch sizes: per-sample outputs are batch-invariant up to the backend's reductions.
TOLERANCE = 1e-6


def test_every_registered_probe_has_a_case():
    assert set(CASES) == set(PROBES), "add a row to CASES for every registered probe (and say why its params suffice)"


@pytest.fixture(scope="module")
def contract_root(tmp_path_factory, monkeypatch_module) -> Path:
    root = tmp_path_factory.mktemp("contract-data")
    make_imagenet_sample(root, size=20)
    make_cue_conflict(root)
    make_refined_bias(root, per_class=1, size=24)
    make_imagenet_vid_robust(root)
    monkeypatch_module.setenv("BIASBENCH_CACHE", str(tmp_path_factory.mktemp("contract-cache")))
    return root


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def _output(name: str, case: Case, root: Path, model, batch_size: int = 7, seed: int = 0):
    dataset = get_dataset_spec(case.dataset).load(root).head(case.limit)
    engine = Engine(EngineConfig(device="cpu", batch_size=batch_size, progress=False, num_workers=0))
    return get_probe(name).with_overrides(case.params).run(ProbeContext(model, dataset, engine, seed))


def _run(name: str, case: Case, root: Path, model, batch_size: int = 7, seed: int = 0) -> dict:
    """{(metric, condition): (value, n)} of one run."""
    out = _output(name, case, root, model, batch_size, seed)
    records = {(r.metric, r.condition): (r.value, r.n) for r in out.records}
    assert len(records) == len(out.records), f"{name} emits a (metric, condition) twice"
    return records


def _same(a: dict, b: dict, tol: float = 0.0) -> list[str]:
    """The keys whose values differ beyond ``tol`` (NaN equals NaN), or that only one run has."""
    if a.keys() != b.keys():
        return sorted(map(str, a.keys() ^ b.keys()))

    def equal(x: float, y: float) -> bool:
        return math.isclose(x, y, abs_tol=tol) or (np.isnan(x) and np.isnan(y))

    return [str(k) for k in a if a[k][1] != b[k][1] or not equal(a[k][0], b[k][0])]


@pytest.mark.parametrize("name", sorted(PROBES))
def test_probe_contract(name, contract_root, tiny_model, request):
    case = CASES[name]
    root = request.getfixturevalue("data_root") if case.realdata else contract_root
    if case.realdata:
        require(root, "si-score-samples")
    runs = {b: _run(name, case, root, tiny_model, batch_size=b) for b in BATCH_SIZES}
    base = runs[7]
    # batch-size invariance
    for b in (1, 32):
        assert not _same(base, runs[b], TOLERANCE), (
            f"{name}: batch {b} vs 7 differ at {_same(base, runs[b], TOLERANCE)}"
        )
    # determinism for a seed; another seed changes exactly the drawn metrics
    assert not _same(base, _run(name, case, root, tiny_model)), f"{name}: two runs with seed 0 differ"
    if case.stochastic:
        # another seed may change only the drawn metrics (a random model's accuracies may not move at all), and
        # it does change the per-sample outputs under the drawn conditions
        one, other = _output(name, case, root, tiny_model), _output(name, case, root, tiny_model, seed=1)
        ones = {(r.metric, r.condition): (r.value, r.n) for r in one.records}
        changed = {r.metric for r in other.records if ones[(r.metric, r.condition)] != (r.value, r.n)}
        assert changed <= set(case.stochastic), f"{name}: seed 1 changes {changed}"
        numeric = one.samples.select_dtypes("number").columns
        assert not one.samples[numeric].equals(other.samples[numeric]), f"{name}: seed 1 draws the same"
    # the unperturbed condition equals the clean result
    if case.unperturbed:
        clean, unperturbed = case.unperturbed
        assert base[clean][0] == pytest.approx(base[unperturbed][0], abs=TOLERANCE)
    # exactly the declared metrics
    declared = {m.metric for m in get_probe(name).metrics}
    emitted = {k[0] for k in base}
    always = {m.metric for m in get_probe(name).metrics if not m.when}
    assert emitted <= declared, f"{name} emits undeclared metrics {sorted(emitted - declared)}"
    assert always <= emitted, f"{name} declares but does not emit {sorted(always - emitted)}"


@pytest.mark.xfail(
    strict=True,
    raises=ValueError,
    reason="resolution's bn protocol re-estimates BatchNorm statistics in training mode over the engine's batches: "
    "at batch size 1 BatchNorm refuses a single value per channel, and the cumulative average of per-batch variances "
    "depends on the batch size; a calibration batch of the probe's own changes stored numbers and job keys",
)
def test_resolution_bn_protocol_runs_at_batch_size_one(contract_root, tiny_model):
    case = Case("imagenet-sample", 2, {"resolutions": (32,), "protocols": ("bn",), "calibration_images": 4}, "")
    _run("resolution", case, contract_root, tiny_model, batch_size=1)
