"""A results directory: per job one records shard, one per-sample shard and a JSON provenance manifest.

Layout::

    DIR/jobs/<key>.records.parquet   tidy records (schema: store.records.RECORD_COLUMNS)
    DIR/jobs/<key>.samples.parquet   per-sample outputs (top-k, probabilities, decisions, ...)
    DIR/jobs/<key>.json              provenance manifest with each shard's size and sha256; written last, so
                                     its presence marks the job done

Every file is written to a temporary name and renamed into place, so a killed run leaves either a finished
job or nothing of it; files get the mode the umask gives new files (0644 under umask 022). A job whose
manifest does not parse or whose shards do not match it (``store.integrity``) is damaged: reading leaves it
out with a ``DamagedJobWarning`` naming the file, ``has`` says it is not done (so the next run writes it
again), and ``repair`` removes it.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from biasbench.core.errors import BiasbenchError, BiasbenchWarning, MissingResultsError
from biasbench.store.integrity import (
    Damage,
    Scan,
    check_job,
    read_manifest,
    remove,
    scan,
    shard_entry,
    shard_path,
    verify_bytes,
)
from biasbench.store.records import RECORD_COLUMNS

JOBS_DIR = "jobs"


class DamagedJobWarning(BiasbenchWarning):
    """A job of a results directory that is left out because one of its files is damaged."""


def warn_damaged(damage: list[Damage]) -> None:
    """One warning per damaged job, naming its files, what is wrong and what to do."""
    for item in damage:
        warnings.warn(
            DamagedJobWarning(
                f"job {item.key} left out: {item}. `biasbench run` with the same options computes it again; "
                f"`biasbench verify {item.file.parent.parent} --repair` removes it."
            ),
            stacklevel=2,
        )


class ResultsStore:
    """Reads and writes the job shards of one results directory."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)
        self.jobs = self.root / JOBS_DIR

    def prepare(self) -> None:
        """Check, before any work, that job files can be written here: a file in the directory's place, a
        read-only folder or a full disk are reported now, not after the first job computed. Creates nothing
        (the first job written creates the folders): a temporary file is made and removed in the deepest
        folder of the path that exists."""
        for path in (self.root, self.jobs):
            if path.exists() and not path.is_dir():
                raise BiasbenchError(f"--out: {path} is a file, not a directory; choose a directory (it is created)")
        existing = next(p for p in (self.jobs, self.root, *self.root.absolute().parents) if p.exists())
        if not existing.is_dir():
            raise BiasbenchError(f"--out {self.root}: {existing} is a file, not a directory; choose another path")
        try:
            fd, probe = tempfile.mkstemp(dir=existing, prefix=".biasbench-write-check.", suffix=".tmp")
        except OSError as e:
            raise BiasbenchError(
                f"--out {self.root}: cannot create files in {existing} ({e.strerror}); choose a directory you can "
                "write to, or change its permissions"
            ) from e
        os.close(fd)
        os.unlink(probe)

    def damage(self, key: str) -> list[Damage]:
        """What is wrong with finished job ``key`` (sizes only; empty when intact or not there)."""
        path = self.jobs / f"{key}.json"
        if not path.is_file():
            return []
        manifest, problem = read_manifest(path)
        return [Damage(key, path, problem)] if manifest is None else check_job(self.jobs, key, manifest)

    def has(self, key: str) -> bool:
        """True when the job ``key`` finished: its manifest exists and its shards are there at their sizes."""
        return (self.jobs / f"{key}.json").is_file() and not self.damage(key)

    def write(self, key: str, records: pd.DataFrame, samples: pd.DataFrame | None, manifest: dict[str, Any]) -> None:
        """Write one finished job atomically: shards first, the manifest (the completion mark, with each shard's
        size and sha256) last. A samples shard left by an earlier, damaged attempt is removed."""
        self.jobs.mkdir(parents=True, exist_ok=True)
        shards = {
            "records": _atomic(shard_path(self.jobs, key, "records"), lambda p: records.to_parquet(p, index=False))
        }
        if samples is not None and len(samples):
            path = shard_path(self.jobs, key, "samples")
            shards["samples"] = _atomic(path, lambda p: samples.to_parquet(p, index=False))
        else:
            remove([shard_path(self.jobs, key, "samples")])
        text = json.dumps({**manifest, "shards": shards}, indent=2, sort_keys=True, default=str)
        _atomic(self.jobs / f"{key}.json", lambda p: Path(p).write_text(text))

    def manifest(self, key: str) -> dict[str, Any]:
        return json.loads((self.jobs / f"{key}.json").read_text())

    def scan(self, *, deep: bool = False) -> Scan:
        """Every job checked (``deep``: every digest too); see ``store.integrity``."""
        return scan(self.jobs, deep=deep)

    def intact(self) -> dict[str, dict[str, Any]]:
        """Manifests of the finished, intact jobs by key; damaged jobs are left out with a warning."""
        found = self.scan()
        warn_damaged([d for damage in found.damaged.values() for d in damage])
        return found.intact

    def manifests(self) -> list[dict[str, Any]]:
        """Manifests of every finished, intact job."""
        return list(self.intact().values())

    def manifests_by_job(self) -> dict[str, dict[str, Any]]:
        """Manifests of every finished, intact job, keyed by job key (the manifest's file name)."""
        return self.intact()

    def samples(self, key: str) -> pd.DataFrame:
        """Per-sample outputs of one job (empty frame if the probe kept none), checked against the manifest's
        sha256: a damaged shard is left out (empty frame) with a warning."""
        path = shard_path(self.jobs, key, "samples")
        if not path.is_file():
            return pd.DataFrame()
        data = path.read_bytes()
        damage = verify_bytes(self.jobs, key, self.manifest(key), "samples", data)
        if damage is not None:
            warn_damaged([damage])
            return pd.DataFrame()
        return pd.read_parquet(io.BytesIO(data))

    def records(self) -> pd.DataFrame:
        """All records of finished, intact jobs, queried across shards with DuckDB (each shard checked against
        its manifest's sha256 first; shards written before the ``caveat`` column read it as "")."""
        readable, damaged = [], []
        for key, manifest in self.intact().items():
            path = shard_path(self.jobs, key, "records")
            damage = verify_bytes(self.jobs, key, manifest, "records", path.read_bytes())
            if damage is None:
                readable.append(str(path))
            else:
                damaged.append(damage)
        warn_damaged(damaged)
        if not readable:
            return pd.DataFrame({c: pd.Series(dtype=_dtype(c)) for c in RECORD_COLUMNS})
        query = "SELECT * FROM read_parquet(?, union_by_name = true) ORDER BY model, probe, dataset, metric, condition"
        with duckdb.connect() as con:
            frame = con.execute(query, [readable]).df()
        frame["caveat"] = frame["caveat"].fillna("") if "caveat" in frame else ""  # shards older than the column
        return frame[list(RECORD_COLUMNS)]

    def repair(self) -> list[Path]:
        """Remove every damaged job's files and every incomplete file (shards without a manifest, stray
        temporary files), so the next run computes those jobs again; returns the removed paths. Not while a
        run writes into the directory (its files in flight look incomplete)."""
        found = self.scan(deep=True)
        doomed = list(found.incomplete)
        for key in found.damaged:
            doomed += [self.jobs / f"{key}.json", *(shard_path(self.jobs, key, k) for k in ("records", "samples"))]
        return remove(doomed)


def load_results(directory: str | os.PathLike[str]) -> pd.DataFrame:
    """All tidy records of a results directory as one DataFrame."""
    root = Path(directory)
    if not root.is_dir():
        raise MissingResultsError(f"no results directory at {root}; run `biasbench run ... --out {root}` first")
    return ResultsStore(root).records()


def _dtype(column: str) -> str:
    return {"value": "float64", "ci_low": "float64", "ci_high": "float64", "n": "int64"}.get(column, "object")


def file_mode() -> int:
    """The mode the process's umask gives a new file (0o644 under umask 022)."""
    try:  # Linux publishes the umask without changing it
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # elsewhere: read it by setting it, and put it back at once
    os.umask(mask)
    return 0o666 & ~mask


def _atomic(path: Path, write: Callable[[str], object]) -> dict[str, Any] | None:
    """Write ``path`` through a temporary file renamed into place, with the umask's mode; returns the shard
    entry (file, bytes, sha256) for Parquet shards."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, file_mode())  # mkstemp creates 0600, whatever the umask
        entry = shard_entry(Path(tmp)) if path.suffix == ".parquet" else None
        if entry is not None:
            entry["file"] = path.name
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return entry
