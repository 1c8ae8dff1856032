import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch

import biasbench
from biasbench.core.errors import BiasbenchError, ParameterError
from biasbench.engine import EngineConfig
from biasbench.run.plan import ModelRef, build_probes, parse_overrides, plan_jobs
from tests.conftest import TINY_MODEL

QUIET = EngineConfig(progress=False, batch_size=16)


def test_parse_overrides_types():
    assert parse_overrides(["shape-bias.bootstrap_reps=50", "spectral.mask=radial", "x.y=[1, 2]"]) == {
        "shape-bias": {"bootstrap_reps": 50},
        "spectral": {"mask": "radial"},
        "x": {"y": [1, 2]},
    }
    with pytest.raises(BiasbenchError, match="PROBE.PARAM=VALUE"):
        parse_overrides(["bootstrap_reps=5"])


def test_unknown_parameter_is_named():
    with pytest.raises(ParameterError, match=r"--set shape-bias.bootstrap_rep: unknown; did you mean 'bootstrap_reps'"):
        build_probes(["shape-bias"], {"shape-bias": {"bootstrap_rep": 5}})
    with pytest.raises(BiasbenchError, match="not in this run"):
        build_probes(["accuracy"], {"shape-bias": {"bootstrap_reps": 5}})


def test_job_keys_are_content_fingerprints(generated_root):
    refs = [ModelRef(TINY_MODEL, spec=TINY_MODEL)]

    def keys(limit=8, reps=2000, seed=0):
        probes = build_probes(["accuracy", "shape-bias"], {"shape-bias": {"bootstrap_reps": reps}})
        jobs, _ = plan_jobs(refs, probes, [], data_root=generated_root, limit=limit, seed=seed)
        return [j.key for j in jobs]

    base = keys()
    assert keys() == base and len(set(base)) == 2
    assert keys(limit=9)[0] != base[0]  # different images
    assert keys(reps=100) == [base[0], keys(reps=100)[1]] and keys(reps=100)[1] != base[1]
    assert keys(seed=1) != base


def test_rerun_skips_and_new_model_runs_only_new_jobs(generated_root, tmp_path):
    messages = []
    kwargs = dict(data_root=generated_root, limit=6, engine=QUIET, report=messages.append)
    first = biasbench.run([TINY_MODEL], ["accuracy", "shape-bias"], tmp_path, **kwargs)
    assert len(first.summary.finished) == 2
    again = biasbench.run([TINY_MODEL], ["accuracy", "shape-bias"], tmp_path, **kwargs)
    assert not again.summary.finished and len(again.summary.skipped) == 2
    assert any("skipping 2 finished" in m for m in messages)
    pd.testing.assert_frame_equal(first, again)
    other = TINY_MODEL + "&seed=1"
    more = biasbench.run([TINY_MODEL, other], ["accuracy", "shape-bias"], tmp_path, **kwargs)
    assert [j.model for j in more.summary.finished] == [other, other]
    assert set(biasbench.load_results(tmp_path)["model"]) == {TINY_MODEL, other}


def test_results_do_not_depend_on_batch_size(generated_root, tmp_path):
    a = biasbench.run(
        [TINY_MODEL],
        ["accuracy"],
        tmp_path / "a",
        data_root=generated_root,
        limit=10,
        engine=EngineConfig(progress=False, batch_size=3),
    )
    b = biasbench.run(
        [TINY_MODEL],
        ["accuracy"],
        tmp_path / "b",
        data_root=generated_root,
        limit=10,
        engine=EngineConfig(progress=False, batch_size=10),
    )
    pd.testing.assert_frame_equal(a, b)


def _cli(*args, env):
    return [sys.executable, "-m", "biasbench.cli", *args]


def test_killed_run_resumes_to_the_same_records(generated_root, tmp_path):
    models = [f"{TINY_MODEL}&seed={i}" for i in range(4)]
    args = [
        "run",
        *[a for m in models for a in ("-m", m)],
        "-p",
        "accuracy",
        "--limit",
        "40",
        "--data-root",
        str(generated_root),
        "--batch-size",
        "4",
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        _cli(*args, "--out", str(killed), env=env),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 120
    while time.time() < deadline and len(list((killed / "jobs").glob("*.json"))) < 1:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(list((killed / "jobs").glob("*.json")))
    assert 1 <= done_before < 4, "the run should have been killed mid-way"
    resumed = subprocess.run(_cli(*args, "--out", str(killed), env=env), env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"skipping {done_before} finished" in resumed.stderr
    clean = tmp_path / "clean"
    subprocess.run(_cli(*args, "--out", str(clean), env=env), env=env, check=True, capture_output=True)
    pd.testing.assert_frame_equal(biasbench.load_results(killed), biasbench.load_results(clean))
    assert len(list((killed / "jobs").glob("*.json"))) == 4


def test_requested_cuda_is_resolved_where_models_run(generated_root, tmp_path):
    from biasbench.engine import Engine

    config = EngineConfig(device="cuda", amp=True, progress=False)
    assert config.precision == "amp-fp16"  # the key says what GPU workers will do, even on a CPU-only driver
    assert EngineConfig(device="auto", amp=True).precision == ("amp-fp16" if torch.cuda.is_available() else "fp32")
    with pytest.raises(BiasbenchError, match="--amp"):  # mixed precision asked for on a CPU: refused, not ignored
        EngineConfig(device="cpu", amp=True)
    engine = Engine(config)  # building it asks nothing of this machine
    if not torch.cuda.is_available():
        with pytest.raises(BiasbenchError, match="no CUDA device"):
            _ = engine.device
        with pytest.raises(BiasbenchError, match="no CUDA device"):
            biasbench.run([TINY_MODEL], ["accuracy"], tmp_path, data_root=generated_root, limit=2, engine=config)
        assert not (tmp_path / "jobs").exists()
