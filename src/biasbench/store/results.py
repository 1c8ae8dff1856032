"""A results directory: per job one records shard, one per-sample shard and a JSON provenance manifest.

Layout::

    DIR/jobs/<key>.records.parquet   tidy records (schema: store.records.RECORD_COLUMNS)
    DIR/jobs/<key>.samples.parquet   per-sample outputs (top-k, probabilities, decisions, ...)
    DIR/jobs/<key>.json              provenance manifest; written last, so its presence marks the job done

Every file is written to a temporary name and renamed into place, so a killed run leaves either a finished
job or nothing of it.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from biasbench.store.records import RECORD_COLUMNS

JOBS_DIR = "jobs"


class ResultsStore:
    """Reads and writes the job shards of one results directory."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)
        self.jobs = self.root / JOBS_DIR

    def has(self, key: str) -> bool:
        """True when the job ``key`` finished (its manifest exists)."""
        return (self.jobs / f"{key}.json").is_file()

    def write(self, key: str, records: pd.DataFrame, samples: pd.DataFrame | None, manifest: dict[str, Any]) -> None:
        """Write one finished job atomically: shards first, the manifest (the completion mark) last."""
        self.jobs.mkdir(parents=True, exist_ok=True)
        _atomic(self.jobs / f"{key}.records.parquet", lambda p: records.to_parquet(p, index=False))
        if samples is not None and len(samples):
            _atomic(self.jobs / f"{key}.samples.parquet", lambda p: samples.to_parquet(p, index=False))
        text = json.dumps(manifest, indent=2, sort_keys=True, default=str)
        _atomic(self.jobs / f"{key}.json", lambda p: Path(p).write_text(text))

    def manifest(self, key: str) -> dict[str, Any]:
        return json.loads((self.jobs / f"{key}.json").read_text())

    def manifests(self) -> list[dict[str, Any]]:
        """Manifests of every finished job."""
        return [json.loads(p.read_text()) for p in sorted(self.jobs.glob("*.json"))]

    def manifests_by_job(self) -> dict[str, dict[str, Any]]:
        """Manifests of every finished job, keyed by job key (the manifest's file name)."""
        return {p.stem: json.loads(p.read_text()) for p in sorted(self.jobs.glob("*.json"))}

    def samples(self, key: str) -> pd.DataFrame:
        """Per-sample outputs of one job (empty frame if the probe kept none)."""
        path = self.jobs / f"{key}.samples.parquet"
        return pd.read_parquet(path) if path.is_file() else pd.DataFrame()

    def records(self) -> pd.DataFrame:
        """All records of finished jobs, queried across shards with DuckDB."""
        finished = [
            str(self.jobs / f"{p.stem}.records.parquet")
            for p in sorted(self.jobs.glob("*.json"))
            if (self.jobs / f"{p.stem}.records.parquet").is_file()
        ]
        if not finished:
            return pd.DataFrame({c: pd.Series(dtype=_dtype(c)) for c in RECORD_COLUMNS})
        columns = ", ".join(RECORD_COLUMNS)
        query = f"SELECT {columns} FROM read_parquet(?) ORDER BY model, probe, dataset, metric, condition"
        with duckdb.connect() as con:
            return con.execute(query, [finished]).df()


def load_results(directory: str | os.PathLike[str]) -> pd.DataFrame:
    """All tidy records of a results directory as one DataFrame."""
    root = Path(directory)
    if not root.is_dir():
        raise FileNotFoundError(f"no results directory at {root}; run `biasbench run ... --out {root}` first")
    return ResultsStore(root).records()


def _dtype(column: str) -> str:
    return {"value": "float64", "ci_low": "float64", "ci_high": "float64", "n": "int64"}.get(column, "object")


def _atomic(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
