"""Scalars and a few images of a run: always a CSV (`<model>/metrics.csv`, easy to plot or
diff), a TensorBoard log (`tensorboard` is in requirements.txt; skipped with a note if it is
missing), and Weights & Biases with `--use_wandb` when the `wandb` package is installed."""
from __future__ import annotations

import csv
import os
import sys
from typing import Any, Optional

import numpy as np


class RunLogger:
    def __init__(self, model_path: str, resume: bool = False, use_wandb: bool = False,
                 run_config: Optional[dict[str, Any]] = None):
        self.csv_path = os.path.join(model_path, "metrics.csv")
        os.makedirs(model_path, exist_ok=True)
        self._pending: list[list] = []
        if not (resume and os.path.exists(self.csv_path)):
            with open(self.csv_path, "w", newline="") as fh:
                csv.writer(fh).writerow(["iteration", "name", "value"])
        try:
            from torch.utils.tensorboard import SummaryWriter  # optional: tensorboard may be absent
            self._tb = SummaryWriter(model_path)
        except ImportError:
            print("note: tensorboard is not installed; logging to metrics.csv only", file=sys.stderr)
            self._tb = None
        self._wandb = _start_wandb(model_path, run_config) if use_wandb else None

    def scalar(self, name: str, value: float, iteration: int) -> None:
        self._pending.append([iteration, name, f"{float(value):.6g}"])
        if self._tb is not None:
            self._tb.add_scalar(name, value, iteration)
        if self._wandb is not None:
            self._wandb.log({name: float(value)}, step=iteration)

    def event(self, name: str, iteration: int, **fields) -> None:
        """A schedule or densification event, one CSV row per field."""
        for key, value in fields.items():
            self.scalar(f"events/{name}/{key}", value, iteration)

    def image(self, name: str, image: np.ndarray, iteration: int) -> None:
        """An (H, W, 3) uint8 picture, to TensorBoard and wandb (not to the CSV)."""
        if self._tb is not None:
            self._tb.add_image(name, image, iteration, dataformats="HWC")
        if self._wandb is not None:
            self._wandb.log({name: self._wandb.Image(image)}, step=iteration)

    def flush(self) -> None:
        """Append the rows logged since the last flush (the file is never held open)."""
        if self._pending:
            with open(self.csv_path, "a", newline="") as fh:
                csv.writer(fh).writerows(self._pending)
            self._pending.clear()
        if self._tb is not None:
            self._tb.flush()


def read_metric(model_path: str, name: str, iteration: int) -> float | None:
    """`name` logged at `iteration` in `<model_path>/metrics.csv` (the last such row: a resumed
    run may log an iteration twice); None when the file or the row is not there."""
    path = os.path.join(model_path, "metrics.csv")
    if not os.path.isfile(path):
        return None
    with open(path, newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["name"] == name and int(r["iteration"]) == iteration]
    return float(rows[-1]["value"]) if rows else None


def _start_wandb(model_path: str, run_config: Optional[dict[str, Any]]):
    try:
        import wandb  # optional dependency, only with --use_wandb
    except ImportError:
        raise RuntimeError("--use_wandb needs the wandb package (pip install wandb); "
                           "metrics.csv and TensorBoard log without it") from None
    wandb.init(project="gradiseg", name=os.path.basename(os.path.normpath(model_path)),
               dir=model_path, config=run_config or {}, resume="allow")
    return wandb  # the module: wandb.log / wandb.Image act on the run just started
