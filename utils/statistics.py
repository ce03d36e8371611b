"""Means over a few seeds with their 95 % Student t interval, as the benchmark tables print them."""
from __future__ import annotations

import math
import statistics
from typing import Sequence

import scipy.stats

CONFIDENCE = 0.95


def mean_interval(values: Sequence[float]) -> tuple[float, float]:
    """(mean, half-width of the 95 % t interval of the mean); the half-width is nan for one value."""
    if not values:
        raise ValueError("mean_interval needs at least one value")
    mean = statistics.mean(values)
    if len(values) < 2:
        return mean, math.nan
    t = scipy.stats.t.ppf(0.5 + CONFIDENCE / 2, len(values) - 1)
    return mean, t * statistics.stdev(values) / math.sqrt(len(values))


def format_interval(values: Sequence[float], scale: float = 1.0, digits: int = 2, signed: bool = False) -> str:
    """'mean +- half' of `values` times `scale` ('mean' alone for one value); `signed` prints '+'."""
    mean, half = mean_interval(values)
    text = f"{scale * mean:{'+' if signed else ''}.{digits}f}"
    return text if math.isnan(half) else f"{text} +- {abs(scale) * half:.{digits}f}"
