"""Segment a trained 3DGS model without training: lift the scene's 2D id masks onto its Gaussians.

    python lift.py -m output/rgb_model -o output/lifted                  # masks: <scene>/object_mask
    python lift.py -m output/rgb_model -o output/lifted --masks prepared_masks/
    python lift.py --ply point_cloud.ply -s data/scene -o output/lifted  # a bare 3DGS / gsplat PLY
    python render.py -m output/lifted --skip_train --prompt_ids data/scene/prompts.json

The output is a GradiSeg model folder (identity encodings + classifier) for render.py, edit.py
and view.py; `train.py --init_identities_from OUT` continues training from it. The logic is in
`method/lifting.py` (the rule) and `apps/lift_model.py` (files).
"""
import argparse
import sys
import time

from apps.lift_model import MARKER, LiftRequest, lift_model
from arguments import PipelineParams, add_group, extract
from method.lifting import DEFAULT_CHUNK
from utils.errors import exits_cleanly_on
from utils.memory import keep_freed_memory


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Lift 2D id masks onto a trained 3DGS model (no training)")
    parser.add_argument("-m", "--model_path", default="",
                        help="model folder (cfg_args + point_cloud/iteration_N/point_cloud.ply)")
    parser.add_argument("--ply", default="", help="a bare Gaussian PLY instead of a model folder (needs -s)")
    parser.add_argument("-s", "--source_path", default="",
                        help="scene folder (default: the model's cfg_args source_path)")
    parser.add_argument("-o", "--output", default="", help="new folder for the lifted model")
    parser.add_argument("--masks", default="", help="folder of <image name>.png id masks "
                        "(default: <scene>/object_mask)")
    parser.add_argument("--iteration", type=int, default=-1, help="the model's saved iteration (-1: latest)")
    parser.add_argument("--eval", action="store_true",
                        help="with --ply: hold out the test views as train.py --eval does (a model "
                             "folder's own split is read from its cfg_args)")
    rules = parser.add_argument_group("lifting rules (method/lifting.py)")
    rules.add_argument("--min_evidence", type=float, default=1.0,
                       help="total blending weight over all views (pixels' worth) a Gaussian needs to be "
                            "labelled by its own evidence")
    rules.add_argument("--fill_neighbors", type=int, default=8,
                       help="Gaussians seen too little vote among this many labelled neighbours (0: off)")
    rules.add_argument("--fill_radius", type=float, default=0.0,
                       help="neighbours farther than this do not vote (0: 3x the median spacing)")
    rules.add_argument("--ignore_ids", type=int, nargs="*", default=[],
                       help="mask ids that give no evidence (e.g. a void / unlabelled id)")
    rules.add_argument("--soft", action="store_true",
                       help="encode each Gaussian's label distribution instead of its one label")
    rules.add_argument("--chunk", type=int, default=DEFAULT_CHUNK,
                       help="labels per rasterizer pass (memory: chunk x H x W floats per view)")
    rules.add_argument("--num_objects", type=int, default=16,
                       help="identity channels, at least; one per label when there are more labels")
    add_group(parser, PipelineParams)
    parser.add_argument("--quiet", action="store_true")
    return parser


@exits_cleanly_on()
def main(argv=None) -> int:
    start = time.perf_counter()
    keep_freed_memory()   # no page-fault storm from per-view buffers (utils/memory.py)
    args = build_parser().parse_args(argv)
    request = LiftRequest(**{name: getattr(args, name) for name in LiftRequest.__dataclass_fields__})
    record = lift_model(request, extract(PipelineParams, args))
    if not args.quiet:
        print(f"Lifted {len(record['label_ids'])} ids from {record['views']} views onto "
              f"{record['num_gaussians']} Gaussians: {record['from_evidence']} by evidence, "
              f"{record['from_neighbours']} by neighbours, {record['unknown']} unknown")
    print(f"Wrote {args.output} ({MARKER}) in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
