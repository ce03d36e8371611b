"""Structure from motion on your own photos (3DGS / Gaussian Grouping's convert.py, with pycolmap).

    python convert.py -s data/mytable               # photos in data/mytable/input/
    python convert.py -s data/mytable --max_size 1600 --resize
    python convert.py -s data/mytable --video clip.mp4 --num_frames 150   # frames -> data/mytable/input/

Writes `SCENE/images/` (undistorted, PINHOLE), `SCENE/sparse/0/` and `SCENE/distorted/`
(database and the distorted model). No COLMAP binary is needed. The logic is in `prep/sfm.py`
and, for a video, `prep/video.py`.
"""
from __future__ import annotations

import argparse
import sys

from prep.sfm import MAPPERS, MATCHING_MODES, SfmOptions, convert_scene
from prep.video import VideoOptions, convert_video
from utils.errors import exits_cleanly_on
from utils.pycolmap_loader import pycolmap


def build_parser() -> argparse.ArgumentParser:
    defaults, video = SfmOptions(), VideoOptions()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-s", "--source_path", required=True, help="scene folder with the photos in input/")
    parser.add_argument("--camera", dest="camera_model", default=defaults.camera_model,
                        help="COLMAP camera model of the photos (OPENCV, SIMPLE_RADIAL, SIMPLE_PINHOLE, ...)")
    parser.add_argument("--matching", choices=MATCHING_MODES, default=defaults.matching,
                        help=f"auto: exhaustive up to {defaults.sequential_above} photos, sequential above")
    parser.add_argument("--mapper", choices=MAPPERS, default=defaults.mapper,
                        help="incremental: COLMAP's incremental mapper; global: its global SfM (formerly GLOMAP)")
    parser.add_argument("--video", default="",
                        help="a video clip: its frames are written to SCENE/input/ first (sequential matching)")
    parser.add_argument("--num_frames", type=int, default=video.num_frames,
                        help="--video: frames spread evenly over the clip (blurry ones replaced by a sharper neighbour)")
    parser.add_argument("--min_sharpness", type=float, default=video.min_sharpness,
                        help="--video: frames less sharp than this (variance of the Laplacian) are never used")
    parser.add_argument("--max_size", type=int, default=None,
                        help="downscale photos whose longer side exceeds this many pixels before SfM")
    parser.add_argument("--resize", action="store_true", help="also write images_2, images_4, images_8")
    parser.add_argument("--min_registered_fraction", type=float, default=defaults.min_registered_fraction,
                        help="error when fewer photos register")
    parser.add_argument("--threads", type=int, default=defaults.num_threads, help="-1: all cores")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--force", action="store_true", help="replace images/, sparse/, distorted/")
    parser.add_argument("--verbose", action="store_true", help="show COLMAP's own log")
    return parser


def _print(line: str) -> None:
    print(line, flush=True)


@exits_cleanly_on(FileExistsError)
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    pycolmap.logging.minloglevel = 0 if args.verbose else 2   # 2: COLMAP's errors only
    options = SfmOptions(camera_model=args.camera_model, matching=args.matching, max_size=args.max_size,
                         resize=args.resize, min_registered_fraction=args.min_registered_fraction,
                         num_threads=args.threads, seed=args.seed, mapper=args.mapper)
    if args.video:
        video = VideoOptions(num_frames=args.num_frames, min_sharpness=args.min_sharpness)
        _, summary = convert_video(args.source_path, args.video, video, options, force=args.force, log=_print)
    else:
        summary = convert_scene(args.source_path, options, force=args.force, log=_print)
    print("\n".join(summary.lines()))
    print(f"scene ready: {args.source_path} (images/, sparse/0/)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
