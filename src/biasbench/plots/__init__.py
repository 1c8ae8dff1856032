"""Figures drawn from records DataFrames (the store's long format); each module writes one probe's figures."""
