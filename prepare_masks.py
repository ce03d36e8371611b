"""Object masks with ids consistent across views, from per-view 2D instance masks.

    python prepare_masks.py -s data/mytable --masks data/mytable/sam_masks
    python prepare_masks.py -s data/mytable --masks data/mytable/sam_masks --depth_model output/mytable_rgb
    python prepare_masks.py -s data/mytable --sam sam.json --depth_model output/mytable_rgb

Reads the converted scene (`images/`, `sparse/0/`), groups the 2D masks into objects by the 3D
points they contain (SfM tracks, plus depth rendered from `--depth_model` when given), fills
the pixels the segmenter missed with the ids the other views see there (with `--depth_model`;
`--no_completion` turns it off), and writes `SCENE/object_mask/<image>.png` (ids < --num_classes, 0 background) and
`SCENE/object_mask/association.json`. Views may come in any order. Logic: `prep/`.
"""
from __future__ import annotations

import argparse
import os
import sys

from arguments import positive_int
from gaussian_renderer.device import DEVICE_HELP
from prep.association import AssociationOptions
from prep.prepare import DEFAULT_SAMPLES_PER_VIEW, PrepareOptions, prepare_masks, summary_lines
from utils.errors import exits_cleanly_on


def class_count(text: str) -> int:
    """argparse type of --num_classes: at least 2 (id 0 is the background)."""
    value = positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError("must be at least 2 (id 0 is the background, objects are 1..N-1)")
    return value


def build_parser() -> argparse.ArgumentParser:
    defaults = AssociationOptions()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-s", "--source_path", required=True, help="converted scene (images/, sparse/0/)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--masks", default="", help="folder of per-view id PNGs (<image name>.png, any numbering)")
    source.add_argument("--sam", default="", help="JSON config for SAM / SAM 2 with a local checkpoint")
    parser.add_argument("--depth_model", default="", help="trained model (e.g. RGB-only) whose depth lifts the masks")
    parser.add_argument("--depth_iteration", type=int, default=-1)
    parser.add_argument("--no_tracks", action="store_true", help="do not use the SfM tracks")
    parser.add_argument("--no_completion", action="store_true",
                        help="do not fill pixels the segmenter missed from the other views (with --depth_model)")
    parser.add_argument("--samples_per_view", type=positive_int, default=DEFAULT_SAMPLES_PER_VIEW,
                        help="pixels per view lifted with the depth")
    parser.add_argument("--num_classes", type=class_count, default=defaults.num_classes,
                        help="output ids are below this (at least 2: id 0 is the background)")
    parser.add_argument("--min_views", type=positive_int, default=defaults.min_views,
                        help="views an object must appear in")
    parser.add_argument("--images", default="images")
    parser.add_argument("--out", default="object_mask", help="output folder inside the scene")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="replace an existing output folder")
    parser.add_argument("--device", default="auto", help=DEVICE_HELP)
    return parser


@exits_cleanly_on()
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    options = PrepareOptions(masks_dir=args.masks, sam_config=args.sam, depth_model=args.depth_model,
                             depth_iteration=args.depth_iteration, use_tracks=not args.no_tracks,
                             samples_per_view=args.samples_per_view, images=args.images, out=args.out,
                             seed=args.seed, device=args.device,
                             complete=not args.no_completion)
    association = AssociationOptions(num_classes=args.num_classes, min_views=args.min_views)
    _, record = prepare_masks(args.source_path, options, association, force=args.force,
                              log=lambda line: print(line, flush=True))
    print("\n".join(summary_lines(record, os.path.join(args.source_path, args.out))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
