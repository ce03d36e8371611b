"""Click to pick: the object id under a clicked pixel of the rendered id map, what the viewer
says about it, and the named selections saved as the `prompts.json` that
`render.py --prompt_ids` (and `edit.py`) read: `{name: [ids]}`."""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from apps.render_export import load_prompt_ids
from utils.atomic_io import write_json_atomic


def pixel_at(screen_pos: tuple[float, float], shape: tuple[int, int]) -> tuple[int, int]:
    """(row, col) of the pixel under `screen_pos`, viser's (x, y) in [0, 1] from the upper-left
    corner of the canvas, in a picture of `shape` (H, W) stretched over the canvas."""
    x, y = screen_pos
    height, width = shape
    return (min(max(int(y * height), 0), height - 1), min(max(int(x * width), 0), width - 1))


def pick_id(ids: np.ndarray, screen_pos: tuple[float, float]) -> int:
    """The object id under `screen_pos` in the id map `ids` (H, W)."""
    row, col = pixel_at(screen_pos, ids.shape)
    return int(ids[row, col])


@dataclass(frozen=True)
class PickedObject:
    """An object picked on a frame: its id, the share of the frame's pixels it covers, and how
    many Gaussians the viewer counts as its (apps.viewer.display_model)."""
    id: int
    pixel_share: float
    gaussian_count: int

    def describe(self, names: list[str]) -> str:
        named = f" ({', '.join(names)})" if names else ""
        return (f"Picked id {self.id}{named}: {100 * self.pixel_share:.1f} % of the pixels, "
                f"{self.gaussian_count} Gaussians")


def object_stats(ids: np.ndarray, group: torch.Tensor, object_id: int) -> PickedObject:
    """`object_id`'s share of the id map `ids` (H, W), and the size of its Gaussians `group`
    (N,) bool."""
    return PickedObject(object_id, float(np.count_nonzero(ids == object_id)) / ids.size, int(group.sum()))


class NamedSelections:
    """Names given to picked ids, `{name: [ids]}`, kept in a prompts.json that is rewritten
    (atomically) after every change. An existing file is read first, so a session continues
    the last one's selections."""

    def __init__(self, path: str, num_classes: int):
        self.path = os.path.abspath(path)
        self.num_classes = num_classes
        self.prompts: dict[str, list[int]] = (load_prompt_ids(self.path, num_classes)
                                              if os.path.isfile(self.path) else {})

    def names_of(self, object_id: int) -> list[str]:
        return sorted(name for name, ids in self.prompts.items() if object_id in ids)

    def add(self, name: str, object_id: int) -> None:
        """Give `object_id` the name `name` (a name may gather several ids) and save."""
        name = name.strip()
        if not name:
            raise ValueError("a selection needs a name")
        if not 0 <= object_id < self.num_classes:
            raise ValueError(f"object id {object_id} is outside 0..{self.num_classes - 1}")
        ids = self.prompts.setdefault(name, [])
        if object_id not in ids:
            ids.append(object_id)
            ids.sort()
        self.save()

    def forget(self, name: str) -> None:
        """Drop the name `name` and save; unknown names are an error."""
        if name not in self.prompts:
            raise ValueError(f"no selection is named {name!r}")
        del self.prompts[name]
        self.save()

    def save(self) -> None:
        write_json_atomic(self.path, self.prompts)

    def describe(self) -> str:
        """Markdown list of the selections, or a hint when there are none."""
        if not self.prompts:
            return "No named selections yet."
        return "\n".join(f"- **{name}**: {', '.join(map(str, ids))}" for name, ids in self.prompts.items())

