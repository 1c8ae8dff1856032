"""Decisions made elsewhere as jobs of a results directory: a vision-language model prompted on a GPU farm or
through an API answers the cue-conflict stimuli, and its per-image decisions CSV (``data.labels.decisions``) becomes a
``shape-bias`` job of that model, with the same records and per-sample table as the probe writes. So VLMs sit
next to the measured models in ``biasbench results``, the analyses and the report.

The prompt is a parameter of the job: it is in the job's key and manifest (``params.prompt``), and two imports
of one model with different prompts are two jobs (the analysis then asks which to read: ``--prefer
shape-bias:params.prompt=...``, or import them under different model names). The key is a content fingerprint
of the decisions file (its sha256), the stimuli, the prompt, the bootstrap settings, the seed and the probe's
version, not the model's name; importing the same file again does nothing (under another name too: the job keeps
the name it was imported under).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import torch

from biasbench.core.errors import BiasbenchError
from biasbench.core.fingerprint import file_sha256
from biasbench.data.datasets import Dataset, load_dataset
from biasbench.data.labels.decisions import Decisions, read_decisions
from biasbench.probes.shape_bias import ShapeBias, decisions_output
from biasbench.run.execute import write_job
from biasbench.run.plan import Job, job_key, previous_job_key
from biasbench.store.records import records_frame
from biasbench.store.results import ResultsStore

# The precision field of an imported job: the numbers were computed elsewhere, at a precision biasbench never saw.
IMPORTED = "imported"
DATASET = "cue-conflict"


@dataclass(frozen=True)
class ImportResult:
    """The job, its records (read back from the store when it was already there), the checked decisions, and
    whether this call wrote the job (``False``: the same file, prompt and settings were imported before)."""

    job: Job
    records: pd.DataFrame
    decisions: Decisions
    imported: bool


def decisions_job(
    path: str | os.PathLike[str],
    model: str,
    prompt: str,
    dataset: Dataset,
    *,
    seed: int = 0,
    bootstrap_reps: int = 2000,
) -> Job:
    """The keyed ``shape-bias`` job of the decisions file at ``path`` answered by ``model`` under ``prompt``."""
    if not model.strip():
        raise BiasbenchError("name the model whose decisions these are (--model NAME)")
    params = {**ShapeBias.Params(bootstrap_reps=bootstrap_reps).model_dump(mode="json"), "prompt": prompt}
    file_fp, data_fp = file_sha256(path), dataset.fingerprint()
    parts = {
        "model_fingerprint": file_fp,
        "preprocess": None,
        "dataset_fingerprint": data_fp,
        "probe": ShapeBias.name,
        "version": ShapeBias.version,
        "params": params,
        "seed": seed,
        "precision": IMPORTED,
    }
    key, previous = job_key(**parts), previous_job_key(model, **parts)
    return Job(model, ShapeBias.name, dataset.name, params, seed, None, IMPORTED, key, file_fp, data_fp, None, previous)


def import_decisions(
    path: str | os.PathLike[str],
    model: str,
    out: str | os.PathLike[str],
    *,
    prompt: str,
    data_root: str | os.PathLike[str] | None = None,
    seed: int = 0,
    bootstrap_reps: int = 2000,
) -> ImportResult:
    """Check the decisions CSV at ``path`` against the cue-conflict stimuli (under ``data_root``) and write it
    into the results directory ``out`` as ``model``'s shape-bias job under ``prompt``; see the module docstring.
    Raises :class:`~biasbench.core.errors.DecisionsError` naming every problem of the file before writing."""
    started, t0 = datetime.now(UTC), time.perf_counter()
    dataset = load_dataset(DATASET, data_root)
    decisions = read_decisions(path, dataset)
    job = decisions_job(path, model, prompt, dataset, seed=seed, bootstrap_reps=bootstrap_reps)
    store = ResultsStore(out)
    found = job.finished_key(store)
    if found is not None:  # the same file, prompt and settings, imported before (under any model name)
        records = store.records()
        return ImportResult(job, records[records["job"] == found].reset_index(drop=True), decisions, False)
    output = decisions_output(decisions, seed=seed, reps=bootstrap_reps)
    frame = records_frame(output.records, model=job.model, probe=job.probe, dataset=job.dataset, job=job.key)
    write_job(
        store,
        job,
        frame,
        output.samples,
        version=ShapeBias.version,
        started=started,
        wall_time_s=time.perf_counter() - t0,
        device=torch.device("cpu"),
        n_images=len(dataset),
        source={
            "kind": "imported decisions",
            "file": str(Path(path).resolve()),
            "sha256": job.model_fingerprint,
            "no_decision": decisions.n_no_decision,
            "other_labels": dict(list(decisions.other_labels.items())[:20]),
            "has_confidence": "confidence" in decisions.frame,
            "ignored_columns": list(decisions.ignored_columns),
        },
    )
    return ImportResult(job, frame, decisions, True)
