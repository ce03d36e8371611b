"""Benchmarking: the segmentation benchmark harness, method diagnostics and the synthetic scene generator."""
