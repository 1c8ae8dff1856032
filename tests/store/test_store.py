import math

import pandas as pd
import pytest

from biasbench.core.fingerprint import digest
from biasbench.store import RECORD_COLUMNS, Record, ResultsStore, load_results, records_frame


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
    assert store.has("k1") and store.manifest("k1") == {"job": "k1"}
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
    with pytest.raises(FileNotFoundError, match="biasbench run"):
        load_results(tmp_path / "nope")


def test_digest_is_order_independent_and_sensitive():
    assert digest({"a": 1, "b": [1, 2]}) == digest({"b": [1, 2], "a": 1})
    assert digest({"a": 1}) != digest({"a": 2})
