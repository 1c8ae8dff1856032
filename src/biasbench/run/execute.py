"""Running one job: shared by every executor so local and cluster runs produce identical shards."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pandas as pd

from biasbench.data.datasets import Dataset
from biasbench.engine.inference import Engine
from biasbench.models.wrapper import Classifier
from biasbench.probes.base import ProbeContext, get_probe
from biasbench.run.plan import Job
from biasbench.run.provenance import environment
from biasbench.store.records import Record, records_frame
from biasbench.store.results import ResultsStore


def execute_job(job: Job, model: Classifier, dataset: Dataset, engine: Engine, store: ResultsStore) -> pd.DataFrame:
    """Run ``job`` and write its shards and manifest atomically; returns its records."""
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    probe = get_probe(job.probe)(get_probe(job.probe).Params(**job.params))
    output = probe.run(ProbeContext(model=model, dataset=dataset, engine=engine, seed=job.seed))
    records = list(output.records)
    skipped = output.notes.get("skipped", [])
    if engine.config.on_corrupt == "skip":
        records.append(Record("skipped_images", float(len(skipped)), len(dataset)))
    frame = records_frame(records, model=job.model, probe=job.probe, dataset=job.dataset, job=job.key)
    manifest = {
        "job": job.key,
        "model": job.model,
        "probe": job.probe,
        "probe_version": probe.version,
        "dataset": job.dataset,
        "params": job.params,
        "seed": job.seed,
        "limit": job.limit,
        "precision": job.precision,
        "n_images": len(dataset),
        "skipped_files": skipped,
        "model_fingerprint": job.model_fingerprint,
        "data_fingerprint": job.dataset_fingerprint,
        "model_info": model.describe(),
        "batch_size": engine.config.batch_size,
        "started": started.isoformat(),
        "wall_time_s": round(time.perf_counter() - t0, 3),
        "environment": environment(engine.device),
        "notes": {k: v for k, v in output.notes.items() if k != "skipped"},
    }
    store.write(job.key, frame, output.samples, manifest)
    return frame
