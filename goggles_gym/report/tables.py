"""The report's numbers: ``results.json`` (everything) and ``results.csv`` (one row a condition),
and the results table as cells of text, shared by ``report.md`` and ``report.html``."""

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


def write_tables(out: str | os.PathLike, summaries: Sequence[dict[str, Any]], extra: dict[str, Any]) -> None:
    """``results.json`` (everything) and ``results.csv`` (one row a condition)."""
    out = Path(out)
    atomic_write_text(out / "results.json", json.dumps({"conditions": list(summaries), **extra}, indent=2,
                                                       default=float))
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


def table_row(s: dict[str, Any]) -> list[str]:
    """One condition's cells under :data:`TABLE_COLUMNS` (plain text, not escaped): a goggles
    method's success is its mean over translator seeds, each seed's beside it."""
    lo, hi = s["success_ci95"]
    seeds = s.get("per_seed", [])
    if seeds:
        success = f"{s['success_rate']:.0%}" + (" (one draw)" if len(seeds) == 1 else f" (mean of {len(seeds)})")
        spread = "" if len(seeds) == 1 else f"{s['success_min']:.0%}-{s['success_max']:.0%}"
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
