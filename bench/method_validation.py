"""The method-validation runs' tables (scripts/validate_method.py): per run, and per variant with
differences to Gaussian Grouping paired by scene and seed."""
from __future__ import annotations

import statistics

from utils.statistics import format_interval


def interval(values: list[float], scale: float = 1.0, digits: int = 2) -> str:
    return format_interval(values, scale, digits, signed=True)


def tables(rows: list[dict]) -> str:
    lines = ["| scene | seed | variant | test PSNR (dB) | band accuracy, test (%) | band accuracy, train (%) "
             "| Gaussians |", "|:--|--:|:--|--:|--:|--:|--:|"]
    lines += [f"| {r['scene']} | {r['seed']} | {r['variant']} | {r['psnr']:.2f} | {100 * r['band_test']:.2f} "
              f"| {100 * r['band_train']:.2f} | {r['gaussians']} |" for r in rows]
    reference = {(r["scene"], r["seed"]): r for r in rows if r["variant"] == "gg"}
    lines += ["", "Per variant over scenes x seeds; differences to Gaussian Grouping paired by scene and seed "
              "(mean +- 95 % t interval):", "",
              "| variant | runs | test PSNR (dB) | - GG (dB) | band test (%) | - GG (points) | band train - GG (points) "
              "| Gaussians - GG (%) |", "|:--|--:|--:|--:|--:|--:|--:|--:|"]
    for variant in dict.fromkeys(r["variant"] for r in rows):
        own = [r for r in rows if r["variant"] == variant]
        paired = [(r, reference[(r["scene"], r["seed"])]) for r in own if (r["scene"], r["seed"]) in reference]
        cells = ["", "", "", ""]
        if paired:
            cells = [interval([r["psnr"] - g["psnr"] for r, g in paired]),
                     interval([r["band_test"] - g["band_test"] for r, g in paired], 100),
                     interval([r["band_train"] - g["band_train"] for r, g in paired], 100),
                     interval([r["gaussians"] / g["gaussians"] - 1 for r, g in paired], 100, 1)]
        lines.append(f"| {variant} | {len(own)} | {statistics.mean(r['psnr'] for r in own):.2f} | {cells[0]} "
                     f"| {100 * statistics.mean(r['band_test'] for r in own):.2f} | {cells[1]} | {cells[2]} "
                     f"| {cells[3]} |")
    return "\n".join(lines) + "\n"
