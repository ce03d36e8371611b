"""Synthetic scenes with exact geometry: objects, ray tracing, mask degradation, writers, the scene folder."""
