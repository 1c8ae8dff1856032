"""The Ray executor: the same job plan as Ray tasks, on a local cluster or an existing one (``address``).

A task is a model group (the plan's jobs of one model, so each model is loaded once per task), split into
one task per job when there are fewer groups than task slots, so that a single model with many probes still
fills every worker. Inside a task the local executor runs the chunk, so both executors share every line of
job execution. Tasks write their shards into the same results directory (a shared filesystem on a multi-node
cluster) with the store's atomic writes. A task whose worker dies is retried (``max_retries``); the retry skips
the jobs whose manifest the dead attempt already wrote, so every job is written exactly once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from biasbench.core.errors import BiasbenchError, DatasetError
from biasbench.data.datasets import Dataset, get_dataset_spec
from biasbench.data.pixels.sampling import limited
from biasbench.engine.inference import Engine, EngineConfig
from biasbench.models.wrapper import Classifier
from biasbench.probes.base import PROBES, Probe, get_probe
from biasbench.run.local import Report, RunSummary, run_local, split_finished
from biasbench.run.plan import DataKey, Job, ModelRef
from biasbench.store.results import ResultsStore

INSTALL_HINT = "the ray executor needs Ray: pip install 'biasbench[ray]'"


@dataclass(frozen=True)
class DatasetLocation:
    """How a worker finds a dataset: registered name, data root, ``--limit`` (its mode and seed) and the
    expected fingerprint."""

    name: str
    root: str
    limit: int | None
    limit_mode: str | None
    seed: int
    fingerprint: str
    partial: bool = False  # the driver accepted a trimmed copy

    def load(self) -> Dataset:
        """Resolve the dataset on this worker, refusing a copy that differs from the driver's."""
        full = get_dataset_spec(self.name).load(self.root, check_count=not (self.partial or self.limit))
        dataset = limited(full, self.limit, self.limit_mode or "balanced", self.seed)
        if dataset.fingerprint() != self.fingerprint:
            raise DatasetError(
                f"dataset {self.name!r} under {self.root} on this worker differs from the one the job plan was "
                "made from (file names, sizes or labels); give every node the same copy"
            )
        return dataset


def data_root_of(dataset: Dataset) -> Path:
    """The data root a resolved dataset was found under (its folder minus the spec's location); a dataset named
    by its own path (``folder:PATH``) finds itself without one, so its folder is returned."""
    folder = Path(dataset.folder)
    if not dataset.spec.locations:
        return folder
    for rel in dataset.spec.locations:
        parts = Path(rel).parts
        if folder.parts[-len(parts) :] == parts:
            return folder.parents[len(parts) - 1]
    raise BiasbenchError(f"cannot tell the data root of {dataset.name!r} from its folder {folder}")


def run_ray(
    jobs: Sequence[Job],
    models: Sequence[ModelRef],
    datasets: dict[DataKey, Dataset],
    engine: Engine,
    store: ResultsStore,
    report: Report = print,
    *,
    address: str | None = None,
    max_retries: int = 3,
    num_cpus: float | None = None,
    num_gpus: float | None = None,
    jobs_per_task: int | None = None,
    data_root: str | None = None,
) -> RunSummary:
    """Run every unfinished job as Ray tasks and return the same summary as ``run_local``.

    ``address``: an existing cluster (``auto``, ``ray://host:10001``, ``host:6379``); without it a cluster
    already initialised in this process is used, else a local one is started. ``num_cpus`` / ``num_gpus``:
    resources per task (default: 1 CPU; on CUDA 1 GPU and the node's CPUs shared out per GPU, at most 8).
    ``jobs_per_task``: split model groups into chunks of this many jobs. ``data_root``: where workers find
    the datasets, when nodes mount them elsewhere than the driver.
    """
    try:
        import ray
    except ImportError:
        raise BiasbenchError(INSTALL_HINT) from None
    pending, summary = split_finished(jobs, store, report)
    if not pending:
        return summary
    started = not ray.is_initialized()
    if started:
        # A local cluster gets no dashboard (nothing to look at for a batch run, and it is slow to start).
        try:
            ray.init(address=address, logging_level="WARNING", **({} if address else {"include_dashboard": False}))
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise BiasbenchError(f"cannot start or reach a Ray cluster (address {address or 'local'}): {e}") from e
    try:
        resources = _resources(ray.cluster_resources(), engine, num_cpus, num_gpus)
        chunks = _chunks(pending, jobs_per_task, _slots(ray.cluster_resources(), resources))
        task = ray.remote(_run_chunk).options(**resources, max_retries=max_retries, retry_exceptions=False)
        needed = {j.model for j in pending}
        # In-memory models go to the object store once; named ones travel as their spec string.
        shipped = {m.name: ray.put(m.module) if m.module is not None else m.spec for m in models if m.name in needed}
        locations = _locations(datasets, data_root, pending[0].seed)
        probes = {name: get_probe(name) for name in {j.probe for j in pending}}
        config, root = engine.config, str(store.root.resolve())  # workers do not share the driver's cwd
        running = {
            task.remote(chunk, chunk[0].model, shipped[chunk[0].model], probes, locations, config, root): chunk
            for chunk in chunks
        }
        report(f"running {len(pending)} job(s) as {len(chunks)} Ray task(s), each with {resources}")
        _collect(ray, running, store, summary, report, total=len(pending), progress=config.progress)
    finally:
        if started:
            ray.shutdown()
    order = {j.key: i for i, j in enumerate(jobs)}
    summary.finished.sort(key=lambda j: order[j.key])
    summary.failed.sort(key=lambda f: order[f[0].key])
    return summary


def _resources(cluster: dict[str, float], engine: Engine, num_cpus, num_gpus) -> dict[str, float]:
    gpus = cluster.get("GPU", 0)
    # "auto" on a CPU-only driver still means GPUs when the cluster has them.
    on_gpu = engine.config.device.startswith("cuda") or (engine.config.device == "auto" and gpus > 0)
    if num_gpus is None:
        num_gpus = 1 if on_gpu else 0
    if num_cpus is None:
        num_cpus = max(1, min(8, math.floor(cluster.get("CPU", 1) / gpus))) if num_gpus and gpus else 1
    return {"num_cpus": num_cpus, "num_gpus": num_gpus}


def _slots(cluster: dict[str, float], resources: dict[str, float]) -> int:
    """How many tasks the cluster runs at once with these per-task resources."""
    by_cpu = cluster.get("CPU", 1) / resources["num_cpus"] if resources["num_cpus"] else math.inf
    by_gpu = cluster.get("GPU", 0) / resources["num_gpus"] if resources["num_gpus"] else math.inf
    return max(1, int(min(by_cpu, by_gpu)))


def _chunks(pending: Sequence[Job], jobs_per_task: int | None, slots: int) -> list[list[Job]]:
    """Model groups (one model load per task), or single jobs when groups alone would leave slots idle."""
    groups = [list(g) for _, g in groupby(pending, key=lambda j: j.model)]
    if jobs_per_task is None:
        jobs_per_task = 1 if len(groups) < slots else max(len(g) for g in groups)
    if jobs_per_task < 1:
        raise BiasbenchError(f"jobs_per_task must be positive, got {jobs_per_task}")
    return [g[i : i + jobs_per_task] for g in groups for i in range(0, len(g), jobs_per_task)]


def _locations(datasets: dict[DataKey, Dataset], data_root: str | None, seed: int) -> dict:
    return {
        key: DatasetLocation(
            ds.name, str(data_root or data_root_of(ds)), key[1], key[2], seed, ds.fingerprint(), bool(ds.partial)
        )
        for key, ds in datasets.items()
    }


def _collect(
    ray, running: dict, store: ResultsStore, summary: RunSummary, report: Report, *, total: int, progress: bool
) -> None:
    """Wait for the tasks, merging their summaries; the bar counts manifests, so it moves per job."""
    bar = tqdm(total=total, desc="jobs on ray", unit="job", disable=not progress)
    keys = [j.key for chunk in running.values() for j in chunk]
    while running:
        ready, _ = ray.wait(list(running), num_returns=len(running), timeout=1.0)
        for ref in ready:
            chunk = running.pop(ref)
            try:
                part, messages = ray.get(ref)
            except ray.exceptions.RayError as e:  # the task's last retry died too
                part, messages = _lost(chunk, store, e), []
            for message in messages:
                report(message)
            summary.finished += part.finished
            summary.failed += part.failed
            for job in part.finished:
                report(f"[{len(summary.finished)}/{total}] {job.label}")
            for job, error in part.failed:
                report(f"  failed: {job.label}: {error}")
        bar.update(sum(store.has(k) for k in keys) - bar.n)
    bar.close()


def _lost(chunk: list[Job], store: ResultsStore, error: Exception) -> RunSummary:
    """A task that exhausted its retries: what it wrote is kept, the rest is failed (a re-run retries it)."""
    reason = f"Ray task failed after its retries ({type(error).__name__}: {str(error).splitlines()[0]})"
    return RunSummary(
        finished=[j for j in chunk if store.has(j.key)],
        failed=[(j, reason) for j in chunk if not store.has(j.key)],
    )


def _run_chunk(
    chunk: list[Job],
    name: str,
    model: str | Classifier,
    probes: dict[str, type[Probe]],
    locations: dict,
    config: EngineConfig,
    store_root: str,
) -> tuple[RunSummary, list[str]]:
    """The Ray task: rebuild model, datasets and engine in the worker, then run the chunk locally."""
    for probe_name, cls in probes.items():
        PROBES.setdefault(probe_name, cls)  # probes registered only in the driver (notebooks, plugins)
    if config.device.startswith("cuda"):
        config = config.model_copy(update={"device": "cuda"})  # Ray exposes the task's GPU as the only visible device
    messages: list[str] = []
    datasets: dict[DataKey, Any] = {}
    summary = RunSummary()
    runnable = []
    for job in chunk:
        key = job.data_key
        try:
            if key not in datasets:
                datasets[key] = locations[key].load()
        except BiasbenchError as e:
            summary.failed.append((job, str(e)))
        else:
            runnable.append(job)
    ref = ModelRef(name, module=model) if isinstance(model, Classifier) else ModelRef(name, spec=model)
    engine = Engine(config.model_copy(update={"progress": False}))
    done = run_local(runnable, [ref], datasets, engine, ResultsStore(store_root), report=messages.append)
    # Jobs an earlier attempt of this task finished count as finished here, not as skipped by the user.
    summary.finished += done.finished + done.skipped
    summary.failed += done.failed
    return summary, [m for m in messages if "Traceback (most recent call last)" in m]  # the rest the driver says
