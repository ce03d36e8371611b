"""A hand-held-video-like clip made from a sequence of real photos, for measuring `convert.py --video`.

Each photo (in capture order) gives `frames_per_photo` consecutive frames: crops of a fixed size
whose position drifts by a few pixels (the hand's shake between frames), and every
`blur_every`-th frame is smeared by a horizontal motion blur (a fast pan). The frames of one
photo share its camera centre, so the clip has the photos' parallax and nothing more.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import cv2
import numpy as np

from utils.errors import DataError


@dataclass
class ClipRecipe:
    frames_per_photo: int = 4
    margin: int = 12          # pixels cut from every side: the room the crop drifts in
    blur_every: int = 4       # every n-th frame is motion-blurred (0: none)
    blur_length: int = 15     # pixels of the horizontal motion blur
    fps: float = 30.0
    seed: int = 0


def motion_blur(frame: np.ndarray, length: int) -> np.ndarray:
    """`frame` (H, W, 3) averaged along a horizontal line of `length` pixels."""
    kernel = np.full((1, length), 1.0 / length, dtype=np.float32)
    return cv2.filter2D(frame, -1, kernel, borderType=cv2.BORDER_REFLECT)


def clip_frames(photos: list[np.ndarray], recipe: ClipRecipe) -> list[np.ndarray]:
    """The clip's frames (h - 2 margin, w - 2 margin, 3) uint8 BGR from same-sized `photos` in order."""
    height, width = photos[0].shape[:2]
    out_h, out_w = height - 2 * recipe.margin, width - 2 * recipe.margin
    rng = np.random.default_rng(recipe.seed)
    frames = []
    for photo in photos:
        for _ in range(recipe.frames_per_photo):
            dy, dx = (rng.integers(0, 2 * recipe.margin + 1, size=2))
            frame = np.ascontiguousarray(photo[dy:dy + out_h, dx:dx + out_w])
            if recipe.blur_every and len(frames) % recipe.blur_every == recipe.blur_every - 1:
                frame = motion_blur(frame, recipe.blur_length)
            frames.append(frame)
    return frames


def read_photos(folder: str) -> list[np.ndarray]:
    """The photos of `folder` in file-name order (capture order for camera and LLFF names)."""
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith((".png", ".jpg", ".jpeg")))
    photos = [cv2.imread(os.path.join(folder, n), cv2.IMREAD_COLOR) for n in names]
    for name, photo in zip(names, photos):
        if photo is None or photo.shape != photos[0].shape:
            raise DataError(f"{os.path.join(folder, name)}: unreadable or not the size of {names[0]}")
    return photos


def write_clip(path: str, frames: list[np.ndarray], fps: float = 30.0, fourcc: str = "mp4v") -> str:
    """`frames` as a video OpenCV's FFmpeg can read back (MPEG-4 part 2 in .mp4 by default)."""
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    if not writer.isOpened():
        raise OSError(f"{path}: OpenCV cannot write a '{fourcc}' video here")
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def clip_from_photos(folder: str, path: str, recipe: ClipRecipe = ClipRecipe()) -> int:
    """Write the clip of the photos in `folder` to `path`; returns its number of frames."""
    frames = clip_frames(read_photos(folder), recipe)
    write_clip(path, frames, recipe.fps)
    return len(frames)
