"""Damage checks of a results directory: every job's manifest lists its shards with their size and sha256.

What is checked, and when (the cost decides):

- every read of a directory (``results``, ``report``, a ``run`` deciding what is done) checks each finished
  job's manifest (it parses) and the size of each shard it lists: one ``stat`` per file, which catches a
  missing or truncated shard (a killed copy, a full disk) without reading any data;
- the sha256 of a shard is checked when its bytes are read anyway: the records shards by ``records()``, a
  samples shard by ``samples(key)``; so a changed byte is found by whatever reads it;
- ``biasbench verify DIR`` checks every digest of every job, and lists the incomplete ones (shards without a
  manifest: a run killed between writing them) and stray temporary files.

Jobs written before manifests carried digests (no ``shards`` entry) are checked by structure: the manifest
parses and each Parquet shard's footer reads (a truncated file has no footer). They keep working unchanged.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

SHARDS = ("records", "samples")  # the shard kinds of a job: DIR/jobs/<key>.<kind>.parquet


def shard_path(jobs: Path, key: str, kind: str) -> Path:
    return jobs / f"{key}.{kind}.parquet"


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def shard_entry(path: Path) -> dict[str, Any]:
    """What a manifest records of a shard: its file name, size and sha256."""
    data = path.read_bytes()
    return {"file": path.name, "bytes": len(data), "sha256": sha256_of(data)}


@dataclass
class Damage:
    """One problem of one job: the file and what is wrong with it."""

    key: str
    file: Path
    problem: str

    def __str__(self) -> str:
        return f"{self.file}: {self.problem}"


@dataclass
class Scan:
    """A results directory checked: intact manifests by key, damaged jobs, incomplete files."""

    intact: dict[str, dict[str, Any]] = field(default_factory=dict)
    damaged: dict[str, list[Damage]] = field(default_factory=dict)
    incomplete: list[Path] = field(default_factory=list)  # shards without a manifest, stray temporary files
    legacy: list[str] = field(default_factory=list)  # intact jobs whose manifests carry no digests

    @property
    def ok(self) -> bool:
        return not self.damaged and not self.incomplete


def read_manifest(path: Path) -> tuple[dict[str, Any] | None, str]:
    """A manifest and "", or None and why it cannot be read."""
    try:
        manifest = json.loads(path.read_bytes())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        return None, f"manifest unreadable ({type(e).__name__}: {e})"
    if not isinstance(manifest, dict):
        return None, "manifest is not a JSON object"
    return manifest, ""


def check_job(jobs: Path, key: str, manifest: dict[str, Any], *, deep: bool = False) -> list[Damage]:
    """The problems of a job whose manifest parsed: shards missing, of another size than recorded, or (``deep``)
    with another sha256. A manifest without digests (older biasbench) is checked by the shards' Parquet footers."""
    shards = manifest.get("shards")
    if not isinstance(shards, dict):
        return _check_legacy(jobs, key)
    problems = []
    for kind in SHARDS:
        path = shard_path(jobs, key, kind)
        entry = shards.get(kind)
        if entry is None:
            continue
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            problems.append(Damage(key, path, "missing (the manifest lists it)"))
            continue
        if size != entry.get("bytes"):
            problems.append(Damage(key, path, f"{size} bytes, the manifest recorded {entry.get('bytes')} (truncated?)"))
        elif deep and sha256_of(path.read_bytes()) != entry.get("sha256"):
            problems.append(Damage(key, path, "content differs from the sha256 in the manifest"))
    return problems


def _check_legacy(jobs: Path, key: str) -> list[Damage]:
    problems = []
    for kind in SHARDS:
        path = shard_path(jobs, key, kind)
        if not path.is_file():
            if kind == "records":
                problems.append(Damage(key, path, "missing"))
            continue
        try:
            pq.read_metadata(path)
        except (OSError, ValueError) as e:  # pyarrow's ArrowInvalid is a ValueError
            problems.append(Damage(key, path, f"not a readable Parquet file ({e})"))
    return problems


def verify_bytes(jobs: Path, key: str, manifest: dict[str, Any], kind: str, data: bytes) -> Damage | None:
    """The damage of shard ``kind`` whose bytes were just read, if its manifest recorded another sha256."""
    entry = (manifest.get("shards") or {}).get(kind)
    if entry is not None and sha256_of(data) != entry.get("sha256"):
        return Damage(key, shard_path(jobs, key, kind), "content differs from the sha256 in the manifest")
    return None


def scan(jobs: Path, *, deep: bool = False) -> Scan:
    """Check every job of a ``jobs`` folder (``deep``: every digest too)."""
    result = Scan()
    if not jobs.is_dir():
        return result
    names = sorted(p.name for p in jobs.iterdir())
    keys = {n.removesuffix(".json") for n in names if n.endswith(".json") and not n.startswith(".")}
    for key in sorted(keys):
        path = jobs / f"{key}.json"
        manifest, problem = read_manifest(path)
        damage = [Damage(key, path, problem)] if manifest is None else check_job(jobs, key, manifest, deep=deep)
        if damage:
            result.damaged[key] = damage
        else:
            result.intact[key] = manifest  # type: ignore[assignment]
            if "shards" not in manifest:  # type: ignore[operator]
                result.legacy.append(key)
    for name in names:
        stem = name.split(".")[0]
        stray = name.startswith(".") and name.endswith(".tmp")
        if stray or (name.endswith(".parquet") and stem not in keys):
            result.incomplete.append(jobs / name)
    return result


def remove(paths: Iterable[Path]) -> list[Path]:
    """Delete ``paths`` (those that exist) and return them."""
    removed = []
    for path in paths:
        if path.exists():
            path.unlink()
            removed.append(path)
    return removed
