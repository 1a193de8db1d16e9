"""Datasets: Open-Industry packaging, open-set splits, readers for public formats and the
dataset builder. Imported as ``scan2ad.datasets`` (never as bare ``datasets``)."""
