"""Evaluation: LERF-Mask scoring and tables, segmentation metrics (IoU, Boundary IoU), image metrics."""
