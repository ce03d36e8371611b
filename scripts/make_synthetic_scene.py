#!/usr/bin/env python
"""Write a synthetic scene in the GradiSeg / Gaussian Grouping layout (docs/design.md section 6).

    python scripts/make_synthetic_scene.py data/synthetic/seed0
    python scripts/make_synthetic_scene.py data/synthetic/seed0_noisy --mask_jitter 2 --swap_fraction 0.1
    python scripts/make_synthetic_scene.py data/synthetic/seed0_no2 --without_object 2

The logic lives in `bench/synthetic/scene.py`; this file only parses arguments.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

# Run as a file, the script's own folder is on sys.path, not the repository root.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.synthetic.degrade import MaskDegradation
from bench.synthetic.objects import GROUND_TEXTURES, LAYOUTS
from bench.synthetic.scene import SyntheticSceneConfig, make_synthetic_scene
from bench.synthetic.writers import COLMAP_FORMATS, OUTPUT_FORMATS


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = SyntheticSceneConfig()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", help="scene folder to write (refused if not empty, unless --force)")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--num_objects", type=int, default=defaults.num_objects)
    parser.add_argument("--num_views", type=int, default=defaults.num_views)
    parser.add_argument("--width", type=int, default=defaults.width)
    parser.add_argument("--height", type=int, default=defaults.height)
    parser.add_argument("--fov_x_deg", type=float, default=defaults.fov_x_deg, help="horizontal field of view")
    parser.add_argument("--elevation_deg", type=float, default=defaults.elevation_deg)
    parser.add_argument("--supersample", type=int, default=defaults.supersample,
                        help="n: colour is the mean of n x n sub-pixel rays")
    parser.add_argument("--num_points", type=int, default=defaults.num_points, help="sparse point cloud size")
    parser.add_argument("--format", dest="output_format", choices=OUTPUT_FORMATS, default=defaults.output_format,
                        help="colmap: sparse/0; transforms: transforms.json + points3d.ply")
    parser.add_argument("--colmap_format", choices=COLMAP_FORMATS, default=defaults.colmap_format)
    parser.add_argument("--mask_jitter", type=float, default=0.0, help="object_mask boundary jitter, pixels")
    parser.add_argument("--swap_fraction", type=float, default=0.0, help="fraction of views with two ids swapped")
    parser.add_argument("--merge_fraction", type=float, default=0.0, help="fraction of views with two ids merged")
    parser.add_argument("--blob_fraction", type=float, default=0.0, help="fraction of views with spurious blobs")
    parser.add_argument("--without_object", type=int, default=None, metavar="ID",
                        help="render the same views with object ID removed (write to a separate folder)")
    parser.add_argument("--ground_texture", choices=GROUND_TEXTURES, default=defaults.ground_texture,
                        help="noise: a non-repeating ground that structure from motion can match")
    parser.add_argument("--layout", choices=LAYOUTS, default=defaults.layout,
                        help="scatter: objects side by side on the ground; contact: also stacked, nested "
                             "and leaning objects (needs --num_objects >= 5)")
    parser.add_argument("--force", action="store_true", help="replace a non-empty out_dir")
    return parser.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> SyntheticSceneConfig:
    return SyntheticSceneConfig(
        seed=args.seed, num_objects=args.num_objects, num_views=args.num_views, width=args.width,
        height=args.height, fov_x_deg=args.fov_x_deg, elevation_deg=args.elevation_deg,
        supersample=args.supersample, num_points=args.num_points, output_format=args.output_format,
        colmap_format=args.colmap_format, without_object=args.without_object,
        ground_texture=args.ground_texture, layout=args.layout,
        degradation=MaskDegradation(jitter_px=args.mask_jitter, swap_fraction=args.swap_fraction,
                                    merge_fraction=args.merge_fraction, blob_fraction=args.blob_fraction))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    try:
        meta = make_synthetic_scene(args.out_dir, config_from_args(args), force=args.force)
    except (ValueError, FileExistsError) as err:
        print(f"make_synthetic_scene: error: {err}", file=sys.stderr)
        return 2
    prompts = ", ".join(f"{obj['id']}: {obj['prompt']}" for obj in meta["objects"])
    print(f"wrote {args.out_dir}: {len(meta['views'])} views, {meta['num_points']} points, objects {prompts} "
          f"({time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
