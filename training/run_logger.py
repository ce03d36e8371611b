"""Scalars of a run: always a CSV (`<model>/metrics.csv`, easy to plot or diff), and a
TensorBoard log as well when `tensorboard` is importable."""
from __future__ import annotations

import csv
import os


class RunLogger:
    def __init__(self, model_path: str, resume: bool = False):
        self.csv_path = os.path.join(model_path, "metrics.csv")
        os.makedirs(model_path, exist_ok=True)
        self._pending: list[list] = []
        if not (resume and os.path.exists(self.csv_path)):
            with open(self.csv_path, "w", newline="") as fh:
                csv.writer(fh).writerow(["iteration", "name", "value"])
        try:
            from torch.utils.tensorboard import SummaryWriter
            self._tb = SummaryWriter(model_path)
        except ImportError:
            self._tb = None

    def scalar(self, name: str, value: float, iteration: int) -> None:
        self._pending.append([iteration, name, f"{float(value):.6g}"])
        if self._tb is not None:
            self._tb.add_scalar(name, value, iteration)

    def event(self, name: str, iteration: int, **fields) -> None:
        """A schedule or densification event, one CSV row per field."""
        for key, value in fields.items():
            self.scalar(f"events/{name}/{key}", value, iteration)

    def flush(self) -> None:
        """Append the rows logged since the last flush (the file is never held open)."""
        if self._pending:
            with open(self.csv_path, "a", newline="") as fh:
                csv.writer(fh).writerows(self._pending)
            self._pending.clear()
        if self._tb is not None:
            self._tb.flush()
