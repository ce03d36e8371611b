"""Which folders a program may replace or delete: only those it wrote itself, recognised by the
marker file it always writes there, and never one that is or holds something it must not touch."""
from __future__ import annotations

import os


def is_inside(path: str, folder: str) -> bool:
    """Whether `path` is `folder` or lies under it (symbolic links resolved)."""
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return os.path.commonpath([path, folder]) == folder


def overlaps(path: str, other: str) -> bool:
    """Whether replacing `path` would touch `other`, or the reverse (one holds the other)."""
    return is_inside(path, other) or is_inside(other, path)


def has_marker(folder: str, marker: str) -> bool:
    """Whether `folder` is a folder holding the file `marker` (what its writer leaves there)."""
    return os.path.isdir(folder) and os.path.isfile(os.path.join(folder, marker))
