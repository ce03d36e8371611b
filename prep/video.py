"""Frames from a video clip for structure from motion: `CLIP` -> `SCENE/input/frame_<number>.jpg`.

The clip is decoded with OpenCV (its pip wheel carries FFmpeg) in two passes: the first measures
every frame's sharpness (variance of the Laplacian of its grey image, at most `SHARPNESS_SIZE`
pixels on the longer side so that the measure does not depend on the resolution, smoothed by a
Gaussian of `SHARPNESS_SIGMA` pixels first so that compression's block edges do not count as
detail: without it a blurred frame of a low-bitrate MP4 scores 5 times higher), the second
writes the chosen frames. `num_frames` frames are spread evenly over the clip: the clip is cut
into that many windows of consecutive frames and each window gives the frame at its centre,
unless that frame is blurry (below `blur_ratio` times the sharpest frame of its window), in
which case the sharpest frame of the window replaces it. Frames under `min_sharpness` are never
used; a window with nothing sharper gives no frame. Phone videos store their rotation as
metadata; OpenCV's FFmpeg reader applies it (`CAP_PROP_ORIENTATION_AUTO`), so frames come out
the way the clip plays.

The frames are written into a hidden work folder beside `input/` and renamed into place at the
end: a failed extraction leaves the scene as it was, and `convert_video` removes the frames
again when the structure from motion on them fails.
"""
from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass, replace
from typing import Callable, Iterator, Optional

import cv2
import numpy as np

from prep.sfm import MIN_REGISTERED_IMAGES, SfmOptions, SfmSummary, convert_scene
from utils.errors import DataError

SHARPNESS_SIZE = 640       # longer side (pixels) at which the sharpness is measured
SHARPNESS_SIGMA = 1.0      # Gaussian smoothing (pixels) before the Laplacian
FRAME_PATTERN = "frame_{:05d}.jpg"
JPEG_QUALITY = 95


@dataclass
class VideoOptions:
    num_frames: int = 100         # frames spread evenly over the clip
    blur_ratio: float = 0.5       # a frame below this share of its window's sharpest is replaced
    min_sharpness: float = 5.0    # sharpness below which a frame is never used (LLFF fern at 504x378:
    #                               about 90 sharp, 8 after a Gaussian blur of 2 pixels, 2.5 of 4)

    def validate(self) -> None:
        if self.num_frames < MIN_REGISTERED_IMAGES:
            raise ValueError(f"num_frames must be at least {MIN_REGISTERED_IMAGES}, got {self.num_frames}")
        if not 0.0 <= self.blur_ratio <= 1.0:
            raise ValueError(f"blur_ratio must be in [0, 1], got {self.blur_ratio}")
        if self.min_sharpness < 0:
            raise ValueError(f"min_sharpness must be >= 0, got {self.min_sharpness}")


@dataclass
class FrameSelection:
    num_clip_frames: int          # frames decoded from the clip
    chosen: list[int]             # frame numbers written, in clip order
    replaced: int                 # windows whose centre frame was blurry and was replaced
    dropped_windows: int          # windows without any frame above min_sharpness
    rotation: int                 # degrees of the clip's rotation metadata (applied by OpenCV)

    def lines(self) -> list[str]:
        rows = [f"video: {len(self.chosen)} frames chosen of {self.num_clip_frames} "
                f"({self.replaced} blurry frames replaced by a sharper neighbour)"]
        if self.dropped_windows:
            rows.append(f"video: {self.dropped_windows} stretches of the clip had no sharp frame and give none")
        if self.rotation:
            rows.append(f"video: rotation metadata {self.rotation} degrees applied")
        return rows


def open_clip(path: str) -> cv2.VideoCapture:
    """The clip opened for reading with its rotation metadata applied, or a DataError naming it."""
    if not os.path.isfile(path):
        raise DataError(f"{path}: video file does not exist")
    capture = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    if not capture.isOpened():
        capture.release()
        raise DataError(f"{path}: OpenCV cannot open it as a video (unknown format or damaged file; "
                        "convert it to MP4 (H.264), or extract frames yourself into SCENE/input/)")
    capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
    return capture


def frames_of(path: str) -> Iterator[np.ndarray]:
    """Every frame of the clip in order, (H, W, 3) uint8 BGR, upright."""
    capture = open_clip(path)
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                return
            yield frame
    finally:
        capture.release()


def clip_rotation(path: str) -> int:
    """Degrees of rotation the clip's metadata asks for (0 when none)."""
    capture = open_clip(path)
    try:
        return int(round(capture.get(cv2.CAP_PROP_ORIENTATION_META))) % 360
    finally:
        capture.release()


def sharpness(frame: np.ndarray) -> float:
    """Variance of the Laplacian of `frame` (H, W[, 3]) in grey, measured with the longer side
    shrunk to at most SHARPNESS_SIZE pixels and smoothed by SHARPNESS_SIGMA: high for sharp
    detail, low for blur or no texture."""
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
    longest = max(grey.shape)
    if longest > SHARPNESS_SIZE:
        scale = SHARPNESS_SIZE / longest
        grey = cv2.resize(grey, (round(grey.shape[1] * scale), round(grey.shape[0] * scale)),
                          interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(cv2.GaussianBlur(grey, (0, 0), SHARPNESS_SIGMA), cv2.CV_64F).var())


def windows(num_clip_frames: int, num_frames: int) -> list[range]:
    """`num_frames` windows of consecutive frame numbers covering the clip evenly (one frame
    each when the clip is shorter than asked)."""
    count = min(num_frames, num_clip_frames)
    edges = np.linspace(0, num_clip_frames, count + 1).round().astype(int)
    return [range(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def choose_frames(scores: np.ndarray, options: VideoOptions) -> FrameSelection:
    """Frame numbers to keep from the per-frame sharpness `scores` (T,), in clip order."""
    chosen, replaced, dropped = [], 0, 0
    for window in windows(len(scores), options.num_frames):
        sharpest = max(window, key=lambda k: scores[k])
        if scores[sharpest] < options.min_sharpness:
            dropped += 1
            continue
        centre = window[len(window) // 2]
        if scores[centre] < options.blur_ratio * scores[sharpest] or scores[centre] < options.min_sharpness:
            chosen.append(sharpest)
            replaced += 1
        else:
            chosen.append(centre)
    return FrameSelection(num_clip_frames=len(scores), chosen=chosen, replaced=replaced,
                          dropped_windows=dropped, rotation=0)


def check_selection(path: str, scores: np.ndarray, selection: FrameSelection, options: VideoOptions) -> None:
    """A DataError naming the clip when it is too short or too blurry to give a scene."""
    if len(scores) < MIN_REGISTERED_IMAGES:
        raise DataError(f"{path}: the clip has {len(scores)} frames; structure from motion needs at least "
                        f"{MIN_REGISTERED_IMAGES}, in practice 50 or more")
    if len(selection.chosen) < MIN_REGISTERED_IMAGES:
        best = float(scores.max())
        raise DataError(f"{path}: {'all' if not selection.chosen else 'nearly all'} of its {len(scores)} frames "
                        f"are blurry or without texture (sharpness at most {best:.1f}, the minimum is "
                        f"{options.min_sharpness:g}): film more slowly, with more light, or lower --min_sharpness")


def write_frames(path: str, chosen: list[int], out_dir: str) -> list[str]:
    """Decode the clip again and write the `chosen` frame numbers to `out_dir` (created);
    returns the file names."""
    wanted = set(chosen)
    os.makedirs(out_dir)
    names = []
    for number, frame in enumerate(frames_of(path)):
        if number in wanted:
            name = FRAME_PATTERN.format(number)
            if not cv2.imwrite(os.path.join(out_dir, name), frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
                raise OSError(f"cannot write {os.path.join(out_dir, name)}")
            names.append(name)
    if len(names) != len(chosen):
        raise DataError(f"{path}: the clip gave {len(names)} of the {len(chosen)} chosen frames when "
                        "decoded a second time (damaged file?)")
    return names


def extract_frames(path: str, input_dir: str, options: VideoOptions = VideoOptions(),
                   log: Callable[[str], None] = print) -> FrameSelection:
    """Write the chosen frames of the clip at `path` into `input_dir`, which must not exist yet
    (it appears complete or not at all). Returns what was chosen."""
    options.validate()
    if os.path.exists(input_dir):
        raise FileExistsError(f"{input_dir} already exists (photos or frames of an earlier run): remove it "
                              "to extract the video again, or run convert.py without --video to use it")
    log(f"measuring the sharpness of every frame of {path} ...")
    scores = np.array([sharpness(frame) for frame in frames_of(path)], dtype=np.float64)
    selection = choose_frames(scores, options)
    check_selection(path, scores, selection, options)
    selection.rotation = clip_rotation(path)
    parent = os.path.dirname(os.path.abspath(input_dir))
    work_dir = os.path.join(parent, f".frames-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        write_frames(path, selection.chosen, work_dir)
        os.rename(work_dir, input_dir)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    return selection


def remove_extracted(input_dir: str, selection: Optional[FrameSelection]) -> None:
    """Delete `input_dir` if it holds exactly the frames `selection` wrote (nothing of the user's)."""
    if selection is None or not os.path.isdir(input_dir):
        return
    expected = {FRAME_PATTERN.format(k) for k in selection.chosen}
    if set(os.listdir(input_dir)) == expected:
        shutil.rmtree(input_dir)


def convert_video(scene_dir: str, clip: str, video_options: VideoOptions, sfm_options: SfmOptions,
                  force: bool = False, log: Callable[[str], None] = print) -> tuple[FrameSelection, SfmSummary]:
    """Frames of `clip` into `scene_dir/input/`, then structure from motion on them with
    sequential matching (video order) unless `sfm_options.matching` names another. When the
    structure from motion fails, the frames it wrote are removed again."""
    input_dir = os.path.join(os.path.abspath(scene_dir), "input")
    if sfm_options.matching == "auto":
        sfm_options = replace(sfm_options, matching="sequential")
    sfm_options.validate()
    selection = extract_frames(clip, input_dir, video_options, log)
    for line in selection.lines():
        log(line)
    try:
        summary = convert_scene(scene_dir, sfm_options, force=force, log=log)
    except BaseException:
        remove_extracted(input_dir, selection)
        raise
    return selection, summary
