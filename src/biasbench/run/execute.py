"""Running one job: shared by every executor so local and cluster runs produce identical shards."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import torch

from biasbench.data.datasets import Dataset
from biasbench.data.pixels.sampling import Limited
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
    if dataset.partial:  # a trimmed copy: flagged in the records too, never mistaken for the full benchmark
        records.append(partial_record(dataset))
    sample = dataset if isinstance(dataset, Limited) else None
    caveat = sample.caveat if sample else ""
    frame = records_frame(records, model=job.model, probe=job.probe, dataset=job.dataset, job=job.key, caveat=caveat)
    write_job(
        store,
        job,
        frame,
        output.samples,
        version=probe.version,
        started=started,
        wall_time_s=time.perf_counter() - t0,
        device=engine.device,
        n_images=len(dataset),
        limit_mode=sample.mode if sample else None,  # the mode the sample was drawn in (a video set cuts "first")
        caveat=caveat,
        skipped_files=skipped,
        model_info=model.describe(),
        batch_size=engine.config.batch_size,
        partial=dataset.partial or None,
        notes={k: v for k, v in output.notes.items() if k != "skipped"},
    )
    return frame


def partial_record(dataset: Dataset) -> Record:
    """``partial_dataset``: the share of the full dataset's images this trimmed copy holds (NaN where the full
    size is not fixed), ``n`` the images measured."""
    expected = dataset.spec.expected_count
    return Record("partial_dataset", len(dataset) / expected if expected else math.nan, len(dataset))


def write_job(
    store: ResultsStore,
    job: Job,
    records: pd.DataFrame,
    samples: pd.DataFrame | None,
    *,
    version: int,
    started: datetime,
    wall_time_s: float,
    device: torch.device,
    **details: Any,
) -> None:
    """Write a finished job into ``store``: its records and samples, then the manifest every job has (its
    identity, parameters, fingerprints, timing and environment) plus the job kind's own ``details``."""
    manifest = {
        "job": job.key,
        "model": job.model,
        "probe": job.probe,
        "probe_version": version,
        "dataset": job.dataset,
        "params": job.params,
        "seed": job.seed,
        "limit": job.limit,
        "precision": job.precision,
        "model_fingerprint": job.model_fingerprint,
        "data_fingerprint": job.dataset_fingerprint,
        "started": started.isoformat(),
        "wall_time_s": round(wall_time_s, 3),
        "environment": environment(device),
        **details,
    }
    store.write(job.key, records, samples, manifest)
