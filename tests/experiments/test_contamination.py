"""Feature contamination (spec docs/CONTAMINATION_AND_META.md part A): exact unit checks and the
qualitative invariants of §A.5.1 over several seeds, at a reduced size where they already hold."""

from __future__ import annotations

import math
from dataclasses import replace

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import biasbench
from biasbench.core.errors import UnknownNameError
from biasbench.core.rng import named_generator
from biasbench.engine import EngineConfig
from biasbench.experiments.contamination import (
    CONFIGS,
    TwoLayerNet,
    distill_analogue,
    feature_projection_norms,
    get_config,
    make_feature_data,
    run_contamination,
)
from biasbench.experiments.contamination.configs import DistillParams
from biasbench.experiments.contamination.run import plan_jobs, torch_threads, train_job
from biasbench.run.local import split_finished
from biasbench.run.plan import Job
from biasbench.store import RECORD_COLUMNS, ResultsStore, load_results
from tests.conftest import TINY_MODEL

SEEDS = (0, 1, 2)
# Reduced size where the invariants already hold: half the input dimension, a quarter of the width and
# 800 of the 20000 steps; the theory/linear pair also uses 400 of the 1000 points.
SMALL = {"d": 128, "width": 64, "steps": 800, "log_every": 200}
POINTS = {"default": 1000, "iid": 1000, "theory": 400, "linear": 400}
SMALL_DISTILL = DistillParams(n_train=2000, n_test=500, steps=400, student_width=256)


def small(name: str):
    return get_config(name).with_overrides(n=POINTS[name], **SMALL)


@pytest.fixture(scope="module")
def finals() -> dict[str, pd.DataFrame]:
    """Per config, the metrics at init (step 0) and at the end, one row per seed."""
    out = {}
    with torch_threads(1):  # tiny matrices: threads only add contention
        for name in POINTS:
            logs = [train_job(small(name), seed) for seed in SEEDS]
            out[name] = pd.DataFrame(
                [
                    {**{f"{m}0": v[0] for m, v in log.metrics.items()}, **{m: v[-1] for m, v in log.metrics.items()}}
                    for log in logs
                ]
            )
    return out


# ----------------------------------------------------------------------------------------- exact checks


def test_embedding_is_orthonormal_and_latents_embed_exactly():
    data = make_feature_data(n=50, generator=named_generator(0, "t"))
    assert data.vh.shape == (64, 256) and data.x_id.shape == data.x_ood.shape == (50, 256)
    torch.testing.assert_close(data.vh @ data.vh.T, torch.eye(64), atol=1e-5, rtol=0)
    recovered = data.x_id @ data.vh.T  # orthonormal rows: projection recovers the latents
    torch.testing.assert_close(recovered, torch.cat([data.z_core, data.z_bg_id], 1), atol=1e-5, rtol=0)


def test_ood_shift_is_a_sign_flip_of_the_background_only():
    data = make_feature_data(n=200, generator=named_generator(1, "t"))
    assert data.y[:100].eq(1).all() and data.y[100:].eq(-1).all()
    assert (data.z_bg_id >= 0).all() and (data.z_bg_ood <= 0).all()
    core = data.vh[:32]
    torch.testing.assert_close(data.x_ood @ core.T, data.x_id @ core.T, atol=1e-5, rtol=0)
    radius = data.z_core.norm(dim=1)
    torch.testing.assert_close(radius, torch.where(data.y > 0, 1.0, 2.0))
    iid = make_feature_data(n=200, bg_test="uniform", generator=named_generator(1, "t"))
    assert (iid.z_bg_ood >= 0).all()
    sign = make_feature_data(n=200, core="sign", generator=named_generator(1, "t"))
    assert (torch.sign(sign.z_core) == sign.y[:, None]).all()


def test_network_init_projections_and_frozen_head():
    net = TwoLayerNet(256, 256, "relu", generator=named_generator(0, "init"))
    data = make_feature_data(n=10, generator=named_generator(0, "t"))
    norms = feature_projection_norms(net.hidden.weight, data.vh, 32)
    assert norms.core == pytest.approx(math.sqrt(32 / 768), abs=0.01)
    assert norms.background == pytest.approx(math.sqrt(32 / 768), abs=0.01)
    assert net(data.x_id).shape == (10, 1)
    frozen = TwoLayerNet(256, 8, "relu", freeze_head=True, generator=named_generator(0, "init"))
    assert frozen.head.weight.tolist() == [[1 / 8] * 4 + [-1 / 8] * 4]
    assert not any(p.requires_grad for p in frozen.head.parameters())
    again = TwoLayerNet(256, 256, "relu", generator=named_generator(0, "init"))
    assert torch.equal(again.hidden.weight, net.hidden.weight)


def test_unknown_names_are_user_errors():
    with pytest.raises(UnknownNameError, match="zero-mean"):
        get_config("zero_mean")
    with pytest.raises(UnknownNameError, match="activation"):
        TwoLayerNet(4, act="swish", generator=named_generator(0, "x"))


# ----------------------------------------------------------------------------- invariants (spec §A.5.1)


def test_relu_background_projection_grows(finals):
    d = finals["default"]
    assert (d["background_norm"] > 3 * d["background_norm0"]).all()  # ×4.4 after 2000 steps at full size
    t = finals["theory"]
    assert (t["background_meandir"] > 2 * t["background_meandir0"]).all()
    assert (t["background_norm"] > t["background_norm0"]).all()


def test_linear_network_background_projection_does_not_grow(finals):
    lin = finals["linear"]
    assert (lin["background_norm"] <= lin["background_norm0"] * 1.01).all()
    assert (lin["background_meandir"] <= lin["background_meandir0"] * 1.1).all()
    assert (lin["id_loss"] < 0.1).all() and (lin["ood_loss"] < lin["id_loss"] + 0.05).all()


def test_core_grows_faster_than_background(finals):
    for frame in finals.values():
        growth_core = frame["core_norm"] - frame["core_norm0"]
        growth_bg = frame["background_norm"] - frame["background_norm0"]
        assert (growth_core > growth_bg).all()


def test_id_loss_vanishes_while_ood_loss_stays_high(finals):
    d = finals["default"]
    assert (d["id_loss"] < 0.03).all() and (d["id_acc"] == 1.0).all()
    assert (d["ood_loss"] > 0.1).all() and (d["ood_loss"] > 5 * d["id_loss"]).all()
    assert (d["ood_acc"] < d["id_acc"]).all()


def test_iid_background_closes_the_gap(finals):
    d, iid = finals["default"], finals["iid"]
    assert (iid["ood_loss"] < d["ood_loss"]).all() and iid["ood_loss"].mean() < 0.5 * d["ood_loss"].mean()
    assert (iid["ood_acc"] > d["ood_acc"]).all()


def test_student_probe_collapses_ood_but_teacher_does_not():
    config = replace(get_config("default"), distill=SMALL_DISTILL)
    with torch_threads(1):
        results = [distill_analogue(config, seed) for seed in SEEDS[:2]]
    for r in results:
        assert r.probe_teacher_id == r.probe_teacher_ood > 0.9
        assert r.repr_error_ood > 3 * r.repr_error_id  # ×1000 after the full 6000 steps
        assert r.probe_student_ood < r.probe_student_id - 0.15


# ------------------------------------------------------------------------------- records, resume and CLI


def test_records_are_deterministic_and_rerun_skips(tmp_path):
    tiny = {"steps": 20, "log_every": 10, "n": 64, "d": 96, "width": 16, "distill_steps": 5}
    kwargs = {"threads": 1, **tiny}
    first = run_contamination(["default"], 1, tmp_path / "a", **kwargs)
    second = run_contamination(["default"], 1, tmp_path / "b", **kwargs)
    pd.testing.assert_frame_equal(first, second)
    assert list(first.columns) == list(RECORD_COLUMNS)
    train = first[first["probe"] == "contamination"]
    assert set(train["model"]) == {"default/seed0"} and set(train["dataset"]) == {"synthetic"}
    assert set(train["condition"]) == {"step/0", "step/10", "step/20"}
    assert {"id_loss", "ood_loss", "id_acc", "ood_acc", "core_norm", "background_norm"} <= set(train["metric"])
    distill = first[first["probe"] == "contamination-distill"]
    assert set(distill["model"]) == {"default/seed0/student", "default/seed0/teacher"}
    seen = []
    again = run_contamination(["default"], 1, tmp_path / "a", report=seen.append, **kwargs)
    assert seen == [f"skipping 2 finished job(s) already in {tmp_path / 'a'}"]  # both skipped, none run
    pd.testing.assert_frame_equal(first, again)


def test_jobs_are_runner_jobs_with_the_common_manifest_and_resume(generated_root, tmp_path):
    """The experiment's jobs are ``run.plan.Job`` s keyed like every job, their manifests have the fields of a
    probe job's manifest (``job``, not a private ``key``), and the runner's resume skips them."""
    biasbench.run(
        [TINY_MODEL],
        ["accuracy"],
        tmp_path / "probe",
        data_root=generated_root,
        limit=2,
        engine=EngineConfig(progress=False),
        report=lambda m: None,
    )
    probe_manifest = ResultsStore(tmp_path / "probe").manifests()[0]
    tiny = {"steps": 4, "log_every": 2, "n": 16, "d": 80, "width": 8, "distill_steps": 2}
    jobs = plan_jobs(["default", "linear"], 2, **tiny)
    assert all(isinstance(job, Job) for job in jobs) and len({job.key for job in jobs}) == len(jobs) == 6
    assert plan_jobs(["default", "linear"], 2, **tiny) == jobs  # keys are content fingerprints
    assert plan_jobs(["default"], [0], **{**tiny, "steps": 5})[0].key != jobs[0].key
    store = ResultsStore(tmp_path / "contam")
    run_contamination(["default", "linear"], 2, store.root, threads=1, report=lambda m: None, **tiny)
    manifests = store.manifests_by_job()
    assert set(manifests) == {job.key for job in jobs}
    for job in jobs:
        manifest = manifests[job.key]
        assert "key" not in manifest and set(manifest) <= set(probe_manifest)
        assert {k: manifest[k] for k in ("job", "model", "probe", "dataset", "params", "seed", "precision")} == {
            "job": job.key,
            "model": job.model,
            "probe": job.probe,
            "dataset": "synthetic",
            "params": job.params,
            "seed": job.seed,
            "precision": "fp32",
        }
        assert manifest["environment"].keys() == probe_manifest["environment"].keys()
    messages = []
    pending, summary = split_finished(jobs, store, messages.append)
    assert pending == [] and summary.skipped == jobs and messages


def test_cli_writes_records_figures_and_summary(tmp_path):
    from biasbench.cli import app  # the command as users run it (a user's error: one line, status 2)

    args = ["contamination", "--out", str(tmp_path), "-c", "default", "-c", "linear", "--seeds", "1"]
    args += ["--steps", "10", "--distill-steps", "3", "--threads", "1", "--no-progress"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "default" in result.output and "linear" in result.output
    records = load_results(tmp_path)
    assert set(records["model"]) >= {"default/seed0", "linear/seed0", "default/seed0/student"}
    for stem in ("default", "linear", "background_by_config", "distill_probe"):
        assert (tmp_path / "figures" / f"{stem}.png").is_file() and (tmp_path / "figures" / f"{stem}.svg").is_file()
    bad = CliRunner().invoke(app, ["contamination", "--out", str(tmp_path), "-c", "nope"])
    assert bad.exit_code == 2 and "unknown contamination config" in bad.output


def test_config_registry_covers_the_controls():
    assert {"default", "theory", "linear", "iid", "zero-mean"} <= set(CONFIGS)
    assert CONFIGS["linear"].act == "identity" and CONFIGS["iid"].bg_test == "uniform"
    assert CONFIGS["zero-mean"].bg_train == "symmetric" and CONFIGS["theory"].freeze_head
