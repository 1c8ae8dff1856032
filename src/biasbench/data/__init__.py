"""Datasets: the catalogue and layouts, label spaces, decoding and preprocessing, the decoded-image cache and
the feed that streams a dataset to the engine."""
