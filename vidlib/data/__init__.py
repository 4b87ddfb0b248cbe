"""Datasets: the embedded procedural Shapes videos, video I/O, real datasets."""
