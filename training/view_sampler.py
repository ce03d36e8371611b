"""Which training view each iteration uses: 3DGS's "random pop from a refilled stack",
with its own random stream so that a checkpoint can capture and restore it exactly."""
from __future__ import annotations

import random


class ViewSampler:
    def __init__(self, num_views: int, seed: int):
        if num_views <= 0:
            raise ValueError("no training views: check the scene folder and the --eval split")
        self.num_views = num_views
        self.rng = random.Random(seed)
        self.remaining: list[int] = []

    def next(self) -> int:
        if not self.remaining:
            self.remaining = list(range(self.num_views))
        return self.remaining.pop(self.rng.randint(0, len(self.remaining) - 1))

    def state_dict(self) -> dict:
        return {"rng": self.rng.getstate(), "remaining": list(self.remaining)}

    def load_state_dict(self, state: dict) -> None:
        version, internal, gauss_next = state["rng"]
        self.rng.setstate((version, tuple(internal), gauss_next))
        # Views beyond this scene's count: a resume on another scene (--resume_other_scene).
        self.remaining = [index for index in state["remaining"] if index < self.num_views]
