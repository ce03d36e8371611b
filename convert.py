"""Structure from motion on your own photos (3DGS / Gaussian Grouping's convert.py, with pycolmap).

    python convert.py -s data/mytable               # photos in data/mytable/input/
    python convert.py -s data/mytable --max_size 1600 --resize

Writes `SCENE/images/` (undistorted, PINHOLE), `SCENE/sparse/0/` and `SCENE/distorted/`
(database and the distorted model). No COLMAP binary is needed. The logic is in `prep/sfm.py`.
"""
from __future__ import annotations

import argparse
import sys

from prep.sfm import MATCHING_MODES, SfmOptions, convert_scene
from utils.errors import exits_cleanly_on
from utils.pycolmap_loader import pycolmap


def build_parser() -> argparse.ArgumentParser:
    defaults = SfmOptions()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-s", "--source_path", required=True, help="scene folder with the photos in input/")
    parser.add_argument("--camera", dest="camera_model", default=defaults.camera_model,
                        help="COLMAP camera model of the photos (OPENCV, SIMPLE_RADIAL, SIMPLE_PINHOLE, ...)")
    parser.add_argument("--matching", choices=MATCHING_MODES, default=defaults.matching,
                        help=f"auto: exhaustive up to {defaults.sequential_above} photos, sequential above")
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


@exits_cleanly_on(FileExistsError)
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    pycolmap.logging.minloglevel = 0 if args.verbose else 2   # 2: COLMAP's errors only
    options = SfmOptions(camera_model=args.camera_model, matching=args.matching, max_size=args.max_size,
                         resize=args.resize, min_registered_fraction=args.min_registered_fraction,
                         num_threads=args.threads, seed=args.seed)
    summary = convert_scene(args.source_path, options, force=args.force, log=lambda line: print(line, flush=True))
    print("\n".join(summary.lines()))
    print(f"scene ready: {args.source_path} (images/, sparse/0/)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
