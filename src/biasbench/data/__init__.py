"""Datasets: layouts, label spaces, decoding and preprocessing."""
