"""The report's numbers: ``results.json`` (everything) and ``results.csv`` (one row a condition),
and the results and methods tables as cells of text, shared by ``report.md`` and ``report.html``."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from goggles_gym.common.files import atomic_write_text

#: The columns of the results table (report.md and report.html), in order.
TABLE_COLUMNS: tuple[str, ...] = (
    "condition", "success", "per translator seed", "min-max", "95% CI", "p vs CycleGAN", "p vs no goggles", "SPL",
    "mean length", "collisions", "mIoU", "chair IoU", "chair FP", "L1 to sim", "shift", "frames/s")
#: The columns of the methods table (one row a goggles method), in order.
METHOD_COLUMNS: tuple[str, ...] = (
    "method", "losses on", "per-update cost", "training time", "mIoU", "chair IoU", "L1 to sim", "shift",
    "closed-loop success", "min-max", "p vs CycleGAN")
#: What the methods table shows, above it in report.md and report.html.
METHODS_NOTE = ("One row a goggles method: the loss families its translator trained with (the translator file's "
                "`losses`), seconds per training update (training wall time / iterations) and training minutes, "
                "each the mean over its translator seeds (empty where a translator file does not record its "
                "training time), and the translation and closed-loop figures of the results table.")


def write_tables(out: str | os.PathLike, summaries: Sequence[dict[str, Any]], extra: dict[str, Any]) -> None:
    """``results.json`` (everything: the conditions, the methods table's :func:`method_summaries`,
    ``extra``) and ``results.csv`` (one row a condition)."""
    out = Path(out)
    data = {"conditions": list(summaries), "methods": method_summaries(summaries), **extra}
    atomic_write_text(out / "results.json", json.dumps(data, indent=2, default=float))
    keys = ["condition", "episodes", "n_seeds", "successes", "success_rate", "success_min", "success_max",
            "ci95_low", "ci95_high", "interval", "p_vs_cyclegan", "p_vs_no_goggles", "spl", "mean_length",
            "mean_collisions", "miou", "chair_iou", "chair_fp", "paired_l1", "shift", "frames_per_s"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys, extrasaction="ignore")
    writer.writeheader()
    for s in summaries:
        row = dict(s)
        row["ci95_low"], row["ci95_high"] = s["success_ci95"]
        writer.writerow(row)
    atomic_write_text(out / "results.csv", buf.getvalue())


def _pct(v: Any) -> str:
    return "" if v is None else f"{v:.0%}"


def p_value(v: Any) -> str:
    """A p-value as a table shows it: three decimals, ``<0.001`` below that, empty for none."""
    if v is None:
        return ""
    return "<0.001" if v < 0.001 else f"{v:.3f}"


def _fmt(v: Any, spec: str) -> str:
    return "" if v is None or isinstance(v, str) or (isinstance(v, float) and np.isnan(v)) else format(v, spec)


def _seed_success(s: dict[str, Any], n: int) -> tuple[str, str]:
    """A goggles method's success over its ``n`` translator seeds: the mean, and the min-max (for two or more)."""
    success = f"{s['success_rate']:.0%}" + (" (one draw)" if n == 1 else f" (mean of {n})")
    spread = "" if n == 1 or s.get("success_min") is None else f"{s['success_min']:.0%}-{s['success_max']:.0%}"
    return success, spread


def table_row(s: dict[str, Any]) -> list[str]:
    """One condition's cells under :data:`TABLE_COLUMNS` (plain text, not escaped): a goggles
    method's success is its mean over translator seeds, each seed's beside it."""
    lo, hi = s["success_ci95"]
    seeds = s.get("per_seed", [])
    if seeds:
        success, spread = _seed_success(s, len(seeds))
    else:
        success, spread = f"{s['success_rate']:.0%} ({s['successes']}/{s['episodes']})", ""
    name = s["condition"] + (" (under-trained)" if s.get("under_trained") else "")
    return [name, success, " / ".join(_pct(p["success_rate"]) for p in seeds), spread, f"{lo:.0%}-{hi:.0%}",
            p_value(s.get("p_vs_cyclegan")), p_value(s.get("p_vs_no_goggles")), f"{s['spl']:.2f}",
            f"{s['mean_length']:.1f}", f"{s['mean_collisions']:.2f}", _fmt(s.get("miou"), ".3f"),
            _fmt(s.get("chair_iou"), ".3f"), _fmt(s.get("chair_fp"), ".2%"), _fmt(s.get("paired_l1"), ".1f"),
            _fmt(s.get("shift"), ".2f"), _fmt(s.get("frames_per_s"), ".0f")]


def table_rows(summaries: Sequence[dict[str, Any]]) -> list[list[str]]:
    """The results table's rows, one a condition, in the order of ``summaries``."""
    return [table_row(s) for s in summaries]


def _mean_if_all(values: Sequence[float | None]) -> float | None:
    """The mean of ``values``, or None when there are none or one is unknown (never a guess)."""
    return None if not values or any(v is None for v in values) else float(np.mean(values))


def method_summary(s: dict[str, Any]) -> dict[str, Any]:
    """One goggles method's entry of the methods table from its condition summary: the loss families
    and training cost its translator files record (each seed's ``training``: ``losses``, ``iterations``,
    ``train_wall_s``), the translation figures and the closed-loop success over its seeds. A cost is
    None unless every seed's file records its training wall time."""
    seeds = s.get("per_seed") or []
    training = [p.get("training") or {} for p in seeds]
    losses: list[str] = []
    for t in training:
        losses += [k for k in t.get("losses") or [] if k not in losses]
    walls = [t.get("train_wall_s") for t in training]
    iterations = [t.get("iterations") for t in training]
    per_update = [None if w is None or not n else w / n for w, n in zip(walls, iterations, strict=True)]
    return {
        "method": s["condition"], "n_seeds": len(seeds), "losses": losses, "iterations": iterations,
        "train_wall_s": walls, "seconds_per_update": _mean_if_all(per_update),
        "train_minutes": _mean_if_all([None if w is None else w / 60 for w in walls]),
        **{k: s.get(k) for k in ("miou", "chair_iou", "paired_l1", "shift", "success_rate", "success_min",
                                 "success_max", "p_vs_cyclegan")},
    }


def method_summaries(summaries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The methods table's entries (``results.json``'s ``methods``): one a goggles method, that is a
    condition with translator seeds (not the sim oracle, no goggles or the DR policy), in order."""
    return [method_summary(s) for s in summaries if s.get("per_seed")]


def _seconds(v: float | None) -> str:
    return "" if v is None else f"{v:.3g} s"


def _minutes(v: float | None) -> str:
    return "" if v is None else f"{v:.1f} min" if v >= 1 else f"{v:.2f} min"


def method_row(m: dict[str, Any]) -> list[str]:
    """One method's cells under :data:`METHOD_COLUMNS` (plain text, not escaped) from its
    :func:`method_summary`; an unknown figure is an empty cell."""
    n = m.get("n_seeds") or 1
    success, spread = _seed_success(m, n) if m.get("success_rate") is not None else ("", "")
    return [m["method"], ", ".join(m.get("losses") or []), _seconds(m.get("seconds_per_update")),
            _minutes(m.get("train_minutes")),
            _fmt(m.get("miou"), ".3f"), _fmt(m.get("chair_iou"), ".3f"), _fmt(m.get("paired_l1"), ".1f"),
            _fmt(m.get("shift"), ".2f"), success, spread, p_value(m.get("p_vs_cyclegan"))]


def method_rows(methods: Sequence[dict[str, Any]]) -> list[list[str]]:
    """The methods table's rows, one a method, in the order of ``methods``."""
    return [method_row(m) for m in methods]
