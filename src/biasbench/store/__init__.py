"""Results store: tidy records, job fingerprints, atomic Parquet shards and queries across them."""

from biasbench.store.records import RECORD_COLUMNS, Record, records_frame
from biasbench.store.results import ResultsStore, load_results

__all__ = ["RECORD_COLUMNS", "Record", "ResultsStore", "load_results", "records_frame"]
