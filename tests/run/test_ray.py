"""Acceptance test of the Ray executor on a real local cluster: a worker dies mid-job, and every job still
finishes exactly once with the local executor's records."""

import importlib.util
import os
import signal
import sys
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

import biasbench
from biasbench.core.errors import BiasbenchError
from biasbench.engine import EngineConfig
from biasbench.probes.base import PROBES, Probe, ProbeContext, ProbeOutput, ProbeParams, get_probe
from biasbench.run.plan import Job
from biasbench.run.ray_executor import _chunks, _resources, _slots
from tests.conftest import TINY_MODEL

needs_ray = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None, reason="Ray is not installed: pip install 'biasbench[ray]'"
)
QUIET = EngineConfig(progress=False, batch_size=4, num_workers=0)


class CountedParams(ProbeParams):
    log: str = ""
    die_marker: str = ""


class CountedAccuracy(Probe):
    """Accuracy that logs every execution it completes (to count executions across processes)."""

    name = "counted-accuracy"
    summary = "test probe"
    Params = CountedParams
    default_datasets = ("imagenet-sample",)

    def run(self, ctx: ProbeContext) -> ProbeOutput:
        marker = Path(self.params.die_marker) if self.params.die_marker else None
        if marker is not None and not marker.exists():
            marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)  # the worker process dies mid-job, once per test
        output = get_probe("accuracy")().run(ctx)
        with open(self.params.log, "a") as f:
            f.write(f"{ctx.model.name}|{self.name}\n")
        return output


class DieOnce(CountedAccuracy):
    """The same, but its first execution anywhere kills the process running it."""

    name = "die-once"


@pytest.fixture()
def test_probes():
    # Registered only in this (driver) process: the executor ships the classes to the workers.
    PROBES.update({CountedAccuracy.name: CountedAccuracy, DieOnce.name: DieOnce})
    yield
    for name in (CountedAccuracy.name, DieOnce.name):
        PROBES.pop(name, None)


@pytest.fixture(scope="module")
def cluster():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    yield ray
    ray.shutdown()


@needs_ray
def test_worker_killed_mid_job_every_job_once_same_records(cluster, test_probes, generated_root, tmp_path):
    models = [TINY_MODEL, TINY_MODEL + "&seed=1"]
    log, marker = tmp_path / "executions.log", tmp_path / "died"
    params = {"counted-accuracy": {"log": str(log)}, "die-once": {"log": str(log), "die_marker": str(marker)}}
    kwargs = dict(data_root=generated_root, limit=4, engine=QUIET, params=params, report=lambda m: None)

    on_ray = biasbench.run(
        models,
        ["counted-accuracy", "die-once"],
        tmp_path / "ray",
        executor="ray",
        executor_options={"max_retries": 2},
        **kwargs,
    )
    assert marker.exists(), "a worker should have been killed"
    summary = on_ray.summary
    assert summary.ok and not summary.skipped and len(summary.finished) == 4
    assert len({j.key for j in summary.finished}) == 4
    executions = Counter(log.read_text().splitlines())
    assert executions == Counter({f"{m}|{p}": 1 for m in models for p in ("counted-accuracy", "die-once")})
    assert len(list((tmp_path / "ray" / "jobs").glob("*.json"))) == 4
    assert len(list((tmp_path / "ray" / "jobs").glob("*.records.parquet"))) == 4

    local = biasbench.run(models, ["counted-accuracy", "die-once"], tmp_path / "local", **kwargs)
    assert len(local.summary.finished) == 4
    pd.testing.assert_frame_equal(biasbench.load_results(tmp_path / "ray"), biasbench.load_results(tmp_path / "local"))
    assert on_ray["metric"].eq("top1").sum() == 4

    again = biasbench.run(models, ["counted-accuracy", "die-once"], tmp_path / "ray", executor="ray", **kwargs)
    assert len(again.summary.skipped) == 4 and not again.summary.finished  # resume: nothing re-runs


@needs_ray
def test_in_memory_model_is_shipped(cluster, tiny_model, generated_root, tmp_path):
    kwargs = dict(data_root=generated_root, limit=6, engine=QUIET, report=lambda m: None)
    on_ray = biasbench.run({"mine": tiny_model}, ["accuracy"], tmp_path / "ray", executor="ray", **kwargs)
    local = biasbench.run({"mine": tiny_model}, ["accuracy"], tmp_path / "local", **kwargs)
    assert on_ray.summary.ok and set(on_ray["model"]) == {"mine"}
    pd.testing.assert_frame_equal(on_ray, local)


def test_missing_ray_names_the_extra(monkeypatch, generated_root, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray → ImportError
    with pytest.raises(BiasbenchError, match=r"pip install 'biasbench\[ray\]'"):
        biasbench.run(
            [TINY_MODEL],
            ["accuracy"],
            tmp_path,
            data_root=generated_root,
            limit=2,
            engine=QUIET,
            executor="ray",
            report=lambda m: None,
        )


def _job(model: str, probe: str) -> Job:
    return Job(model, probe, "imagenet-sample", {}, 0, None, "fp32", f"{model}-{probe}", "m", "d")


def test_tasks_are_model_groups_unless_slots_would_idle():
    jobs = [_job(m, p) for m in "abc" for p in ("accuracy", "spectral")]
    groups = _chunks(jobs, None, slots=2)
    assert [[j.key for j in c] for c in groups] == [[f"{m}-accuracy", f"{m}-spectral"] for m in "abc"]
    assert len(_chunks(jobs, None, slots=8)) == 6  # 3 models on 8 slots: one job per task
    assert [len(c) for c in _chunks(jobs[:2], 1, slots=1)] == [1, 1]


def test_resource_requests():
    cpu = SimpleNamespace(device=SimpleNamespace(type="cpu"), config=EngineConfig(device="cpu"))
    cuda = SimpleNamespace(config=EngineConfig(device="cuda"))  # a CPU-only driver planning GPU workers
    auto = SimpleNamespace(device=SimpleNamespace(type="cpu"), config=EngineConfig(device="auto"))
    assert _resources({"CPU": 16}, cpu, None, None) == {"num_cpus": 1, "num_gpus": 0}
    assert _resources({"CPU": 16, "GPU": 4}, cuda, None, None) == {"num_cpus": 4, "num_gpus": 1}
    assert _resources({"CPU": 64, "GPU": 2}, auto, None, None) == {"num_cpus": 8, "num_gpus": 1}
    assert _slots({"CPU": 16, "GPU": 4}, {"num_cpus": 4, "num_gpus": 1}) == 4
    assert _slots({"CPU": 2}, {"num_cpus": 1, "num_gpus": 0}) == 2
