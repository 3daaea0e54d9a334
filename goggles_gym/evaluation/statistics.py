"""The study's statistics: a success rate's interval, the paired test between two conditions, and the
summary of a method over its translator seeds."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (95% by default).

    >>> tuple(round(v, 4) for v in wilson_interval(8, 10))
    (0.4902, 0.9433)
    """
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    lo = 0.0 if successes == 0 else max(0.0, centre - half)  # exact at the ends, no rounding residue
    hi = 1.0 if successes == n else min(1.0, centre + half)
    return (lo, hi)


def mcnemar_exact(a: Sequence[bool], b: Sequence[bool]) -> dict[str, Any]:
    """Exact McNemar test (statsmodels) of two conditions' outcomes on the same episodes, in order.

    Returns the p-value (two-sided) and the discordant counts: ``a_only`` episodes that ``a`` solved
    and ``b`` did not, ``b_only`` the reverse.

    >>> r = mcnemar_exact([True] * 10 + [False] * 10, [False] * 10 + [False] * 10)
    >>> r["a_only"], r["b_only"], round(r["p_value"], 4)
    (10, 0, 0.002)
    """
    from statsmodels.stats.contingency_tables import mcnemar

    a, b = np.asarray(a, bool), np.asarray(b, bool)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired outcomes must be two equal-length lists, got {a.shape} and {b.shape}")
    table = [[int(np.sum(a & b)), int(np.sum(a & ~b))], [int(np.sum(~a & b)), int(np.sum(~a & ~b))]]
    a_only, b_only = table[0][1], table[1][0]
    p = 1.0 if a_only + b_only == 0 else float(mcnemar(table, exact=True).pvalue)
    return {"p_value": p, "a_only": a_only, "b_only": b_only, "pairs": int(a.size)}


def seed_summary(rates: Sequence[float], confidence: float = 0.95) -> dict[str, Any]:
    """Mean, min, max of a method's success over its translator seeds, and the mean's t interval
    over seeds (None for a single seed: one draw says nothing about the spread).

    >>> s = seed_summary([0.2, 0.4, 0.6])
    >>> round(s["mean"], 3), s["min"], s["max"], [round(v, 3) for v in s["ci"]]
    (0.4, 0.2, 0.6, [0.0, 0.897])
    """
    from scipy import stats

    r = np.asarray(rates, float)
    if r.size == 0:
        raise ValueError("no seeds to summarise")
    out: dict[str, Any] = {"n_seeds": int(r.size), "mean": float(r.mean()), "min": float(r.min()),
                           "max": float(r.max()), "ci": None, "std": None}
    if r.size > 1:
        sd = float(r.std(ddof=1))
        half = float(stats.t.ppf(0.5 + confidence / 2, r.size - 1)) * sd / math.sqrt(r.size)
        out.update(std=sd, ci=[max(0.0, out["mean"] - half), min(1.0, out["mean"] + half)])
    return out
