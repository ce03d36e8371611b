#!/usr/bin/env python
"""`convert.py --video` on a clip made from real photos: frames registered, and the incremental
against the global mapper on the same frames (time, registered share, reprojection error).

The clip is made from a folder of photos in capture order (`bench/video_clip.py`: several
drifting crops per photo, some motion-blurred); the frames are extracted once per `--num_frames`,
`convert.py`'s whole pipeline runs on them once (features, sequential matching, incremental
mapping, undistortion), and then each mapper runs again on that same feature database, timed
alone (wall clock and the process's CPU time, which load from other jobs does not inflate).
Prints a markdown table.

    python scripts/bench_video_sfm.py --photos PHOTOS --num_frames 40,80
    python scripts/bench_video_sfm.py --photos PHOTOS --num_frames 40 --mappers global --threads 2
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.video_clip import ClipRecipe, clip_from_photos  # noqa: E402
from prep.sfm import MAPPERS, SfmOptions, convert_scene, largest_reconstruction, map_scene  # noqa: E402
from prep.video import VideoOptions, extract_frames  # noqa: E402
from utils.pycolmap_loader import pycolmap  # noqa: E402


def quiet(_line: str) -> None:
    pass


def measure(scene: str, mapper: str, threads: int) -> dict:
    """`mapper` run alone on the feature database convert.py left in `scene/distorted/`."""
    options = SfmOptions(mapper=mapper, num_threads=threads)
    models = tempfile.mkdtemp(prefix=f"{mapper}-", dir=scene)
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        best = largest_reconstruction(map_scene(os.path.join(scene, "distorted", "database.db"),
                                                os.path.join(scene, "input"), models, options))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        shutil.rmtree(models, ignore_errors=True)
    registered = best.num_reg_images() if best is not None else 0
    return {"mapper": mapper, "wall": wall, "cpu": cpu, "registered": registered,
            "error": best.compute_mean_reprojection_error() if registered else float("nan"),
            "points": best.num_points3D() if registered else 0,
            "track": best.compute_mean_track_length() if registered else float("nan")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", required=True, help="folder of photos in capture order")
    parser.add_argument("--num_frames", default="40,80", help="comma-separated frame counts to extract")
    parser.add_argument("--mappers", default=",".join(MAPPERS))
    parser.add_argument("--frames_per_photo", type=int, default=ClipRecipe.frames_per_photo)
    parser.add_argument("--camera", default="OPENCV")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--keep", default="", help="keep the clip and scenes in this folder")
    args = parser.parse_args()
    pycolmap.logging.minloglevel = 2   # COLMAP's errors only

    work = args.keep or tempfile.mkdtemp(prefix="bench_video_sfm-")
    os.makedirs(work, exist_ok=True)
    recipe = ClipRecipe(frames_per_photo=args.frames_per_photo)
    clip = os.path.join(work, "clip.mp4")
    total_frames = clip_from_photos(args.photos, clip, recipe)
    print(f"clip: {total_frames} frames ({recipe.frames_per_photo} per photo, every {recipe.blur_every}th "
          f"motion-blurred over {recipe.blur_length} px), {clip}", flush=True)
    rows = []
    try:
        for count in [int(c) for c in args.num_frames.split(",")]:
            scene = os.path.join(work, f"frames_{count}")
            shutil.rmtree(scene, ignore_errors=True)
            start = time.perf_counter()
            selection = extract_frames(clip, os.path.join(scene, "input"), VideoOptions(num_frames=count), log=quiet)
            extraction = time.perf_counter() - start
            summary = convert_scene(scene, SfmOptions(camera_model=args.camera, matching="sequential",
                                                      num_threads=args.threads), log=quiet)
            print(f"  {count} frames: convert.py registered {summary.num_registered}/{summary.num_input_images}, "
                  + ", ".join(f"{k} {v:.1f} s" for k, v in summary.seconds.items()), flush=True)
            for mapper in args.mappers.split(","):
                row = measure(scene, mapper, args.threads)
                row.update(asked=count, frames=len(selection.chosen), replaced=selection.replaced,
                           extraction=extraction)
                rows.append(row)
                print(f"  {count} frames, {mapper}: {row['registered']}/{row['frames']} in {row['wall']:.1f} s",
                      flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print("\n| frames asked | blurry replaced | extraction (s) | mapper | registered | mapping wall (s) | "
          "mapping CPU (s) | reprojection error (px) | 3D points | mean track length |")
    print("|--:|--:|--:|:--|--:|--:|--:|--:|--:|--:|")
    for r in rows:
        print(f"| {r['asked']} | {r['replaced']} | {r['extraction']:.1f} | {r['mapper']} | "
              f"{r['registered']}/{r['frames']} ({100 * r['registered'] / r['frames']:.0f} %) | {r['wall']:.1f} | "
              f"{r['cpu']:.1f} | {r['error']:.3f} | {r['points']} | {r['track']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
