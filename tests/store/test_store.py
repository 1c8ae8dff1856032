import hashlib
import json
import math
import os
import warnings

import pandas as pd
import pytest

from biasbench.core.errors import BiasbenchError
from biasbench.core.fingerprint import digest
from biasbench.store import RECORD_COLUMNS, Record, ResultsStore, load_results, records_frame
from biasbench.store.results import DamagedJobWarning, file_mode


def test_records_frame_schema():
    frame = records_frame(
        [Record("top1", 0.5, 10), Record("top5", 0.9, 10, "clean", 0.6, 0.99)],
        model="m",
        probe="accuracy",
        dataset="d",
        job="k",
    )
    assert tuple(frame.columns) == RECORD_COLUMNS
    assert frame["value"].tolist() == [0.5, 0.9] and frame["condition"].tolist() == ["", "clean"]
    assert math.isnan(frame["ci_low"][0])


def test_write_is_atomic_and_manifest_marks_done(tmp_path):
    store = ResultsStore(tmp_path)
    frame = records_frame([Record("top1", 0.5, 10)], model="m", probe="p", dataset="d", job="k1")
    assert not store.has("k1")
    store.write("k1", frame, pd.DataFrame({"index": [0, 1]}), {"job": "k1"})
    assert store.has("k1") and store.manifest("k1")["job"] == "k1"
    for kind in ("records", "samples"):  # the manifest lists every shard with its size and sha256
        data = (tmp_path / "jobs" / f"k1.{kind}.parquet").read_bytes()
        entry = store.manifest("k1")["shards"][kind]
        assert entry == {"file": f"k1.{kind}.parquet", "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert not list((tmp_path / "jobs").glob("*.tmp"))
    assert store.samples("k1")["index"].tolist() == [0, 1]
    records = load_results(tmp_path)
    assert records["value"].tolist() == [0.5] and tuple(records.columns) == RECORD_COLUMNS


def test_unfinished_shard_without_manifest_is_ignored(tmp_path):
    store = ResultsStore(tmp_path)
    frame = records_frame([Record("top1", 0.5, 10)], model="m", probe="p", dataset="d", job="k1")
    (tmp_path / "jobs").mkdir()
    frame.to_parquet(tmp_path / "jobs" / "k1.records.parquet")  # as if killed before the manifest
    assert not store.has("k1") and store.records().empty


def test_load_results_missing_dir(tmp_path):
    with pytest.raises(FileNotFoundError, match="biasbench run"):  # also a BiasbenchError (one-line CLI error)
        load_results(tmp_path / "nope")
    with pytest.raises(BiasbenchError):
        load_results(tmp_path / "nope")


def test_digest_is_order_independent_and_sensitive():
    assert digest({"a": 1, "b": [1, 2]}) == digest({"b": [1, 2], "a": 1})
    assert digest({"a": 1}) != digest({"a": 2})


def _two_jobs(root):
    store = ResultsStore(root)
    for key, value in (("k1", 0.5), ("k2", 0.75)):
        frame = records_frame([Record("top1", value, 10)], model=key, probe="p", dataset="d", job=key)
        store.write(key, frame, pd.DataFrame({"index": [0, 1]}), {"job": key})
    return store


@pytest.mark.parametrize(
    "damage",
    [
        lambda jobs: (jobs / "k1.records.parquet").write_bytes((jobs / "k1.records.parquet").read_bytes()[:100]),
        lambda jobs: (jobs / "k1.samples.parquet").write_bytes((jobs / "k1.samples.parquet").read_bytes()[:100]),
        lambda jobs: (jobs / "k1.records.parquet").unlink(),
        lambda jobs: (jobs / "k1.json").write_text('{"job": "k1", "shar'),
    ],
    ids=["truncated-records", "truncated-samples", "missing-shard", "bad-manifest"],
)
def test_a_damaged_job_is_left_out_named_and_not_done(tmp_path, damage):
    store = _two_jobs(tmp_path)
    damage(tmp_path / "jobs")
    with pytest.warns(DamagedJobWarning, match=r"job k1 left out: .*k1\.(records|samples|json).*verify"):
        records = store.records()
    assert records["model"].tolist() == ["k2"]  # the intact job is still read
    assert not store.has("k1") and store.has("k2")  # so the next run computes k1 again
    assert set(store.scan(deep=True).damaged) == {"k1"}


def test_a_changed_byte_is_found_where_the_bytes_are_read(tmp_path):
    store = _two_jobs(tmp_path)
    path = tmp_path / "jobs" / "k1.records.parquet"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size: only the digest tells
    path.write_bytes(bytes(data))
    assert store.has("k1")  # sizes only: a run does not read every shard to decide what is done
    with pytest.warns(DamagedJobWarning, match="sha256"):
        assert store.records()["model"].tolist() == ["k2"]
    assert set(store.scan(deep=True).damaged) == {"k1"} and not store.scan().damaged


def test_repair_removes_damaged_and_incomplete_files_only(tmp_path):
    store = _two_jobs(tmp_path)
    jobs = tmp_path / "jobs"
    (jobs / "k1.json").write_text("not json")
    (jobs / "k3.records.parquet").write_bytes(b"orphan")  # a run killed before its manifest
    (jobs / ".k4.json.abc.tmp").write_bytes(b"")
    removed = {p.name for p in store.repair()}
    assert removed == {"k1.json", "k1.records.parquet", "k1.samples.parquet", "k3.records.parquet", ".k4.json.abc.tmp"}
    assert sorted(p.name for p in jobs.iterdir()) == ["k2.json", "k2.records.parquet", "k2.samples.parquet"]
    assert store.scan(deep=True).ok


def test_results_without_digests_still_read(tmp_path):
    """A directory written before manifests carried digests: checked by structure, read unchanged."""
    store = _two_jobs(tmp_path)
    for key in ("k1", "k2"):
        path = tmp_path / "jobs" / f"{key}.json"
        manifest = json.loads(path.read_text())
        del manifest["shards"]
        path.write_text(json.dumps(manifest))
    frame = pd.read_parquet(tmp_path / "jobs" / "k2.records.parquet").drop(columns="caveat")  # the old schema
    frame.to_parquet(tmp_path / "jobs" / "k2.records.parquet", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        records = store.records()
    assert records["value"].tolist() == [0.5, 0.75] and records["caveat"].tolist() == ["", ""]
    assert store.has("k1") and store.scan(deep=True).legacy == ["k1", "k2"]
    (tmp_path / "jobs" / "k1.records.parquet").write_bytes(b"PAR1 truncated")
    assert not store.has("k1") and "Parquet" in str(store.scan().damaged["k1"][0])


def test_files_honour_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        assert file_mode() == 0o640
        _two_jobs(tmp_path)
    finally:
        os.umask(old)
    assert {oct(p.stat().st_mode & 0o777) for p in (tmp_path / "jobs").iterdir()} == {"0o640"}


def test_prepare_refuses_a_file(tmp_path):
    (tmp_path / "out").write_text("")
    with pytest.raises(BiasbenchError, match="is a file"):
        ResultsStore(tmp_path / "out").prepare()
    with pytest.raises(BiasbenchError, match="is a file"):
        ResultsStore(tmp_path / "out" / "below").prepare()
    ResultsStore(tmp_path / "new" / "deeper").prepare()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # checked, nothing created
