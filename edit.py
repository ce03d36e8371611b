"""Edit a trained model: remove, swap, move, insert and recolour objects, export object groups.
The source model is only read; the result is a new model folder, rendered on its test views.

    python edit.py -m output/scene -o output/scene_no_sphere --remove "cyan mottled sphere" --prompt_ids data/scene/prompts.json
    python edit.py -m output/scene -o output/scene_filled --remove 2 --inpaint
    python edit.py -m output/scene -o output/scene_swapped --swap 1 3
    python edit.py -m output/scene -o output/scene_red --recolour 3 --rgb 0.9 0.1 0.1
    python edit.py -m output/scene -o output/scene_groups --export_groups
    python edit.py --edits edits.json           # the JSON edit-file format: docs/editing.md

The logic lives in `apps/editing/`; this file parses arguments, edits and renders
the result (`apps.render_model`).
"""
import argparse
import sys

from apps.editing.operations import run_edit_plan
from apps.editing.plan import DEFAULT_THRESHOLD, EditPlan, parse_edit_plan, read_edit_plan
from apps.inpainting.inpainters import INPAINTERS
from apps.render_model import RenderRequest, render_model
from arguments import ConfigError, ModelParams, PipelineParams, saved_params
from gaussian_renderer.backend import BACKENDS
from gaussian_renderer.device import DEVICE_HELP, resolve_device
from utils.errors import exits_cleanly_on
from utils.memory import keep_freed_memory

OPERATION_FLAGS = ("remove", "swap", "recolour", "insert")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Edit a trained GradiSeg model (non-destructive)")
    parser.add_argument("-m", "--model_path", default="", help="trained model folder (read only)")
    parser.add_argument("-o", "--output", default="", help="new folder for the edited model")
    parser.add_argument("--iteration", type=int, default=None, help="saved iteration (default: latest)")
    parser.add_argument("--edits", default="", help="JSON edit file (instead of the operation flags)")
    parser.add_argument("--remove", nargs="+", metavar="OBJ", help="remove these ids / prompts")
    parser.add_argument("--swap", nargs=2, metavar="OBJ", help="swap two objects' places")
    parser.add_argument("--recolour", nargs="+", metavar="OBJ", help="recolour these ids / prompts")
    parser.add_argument("--rgb", nargs=3, type=float, metavar="C", help="recolour: new base colour")
    parser.add_argument("--shift", nargs=3, type=float, metavar="C", help="recolour: add to the base colour")
    parser.add_argument("--no_view_dependent", action="store_true",
                        help="recolour: zero the SH coefficients of degree >= 1")
    parser.add_argument("--insert", metavar="PLY", help="insert an exported group PLY")
    parser.add_argument("--translation", nargs=3, type=float, metavar="T", help="insert: move it by this")
    parser.add_argument("--inpaint", action="store_true",
                        help="remove: fill the hole left behind (2D inpainting + 3D fine-tuning)")
    parser.add_argument("--inpainter", choices=INPAINTERS, default=None,
                        help="inpaint: 2D inpainter (default telea; lama needs --lama_checkpoint)")
    parser.add_argument("--lama_checkpoint", default=None, metavar="PT",
                        help="inpaint: a LaMa TorchScript file (big-lama.pt) on disk")
    parser.add_argument("--inpaint_masks", default=None, metavar="DIR",
                        help="inpaint: hole masks <view>.png to use instead of computing them")
    parser.add_argument("--inpaint_iterations", type=int, default=None, metavar="N",
                        help="inpaint: fine-tuning steps (default 300)")
    parser.add_argument("--threshold", type=float, default=None,
                        help=f"selection: group probability above which a Gaussian is selected "
                             f"(default {DEFAULT_THRESHOLD})")
    parser.add_argument("--convex_hull", action="store_true",
                        help="selection: grow to the Gaussians inside its robust convex hull")
    parser.add_argument("--prompt_ids", default=None, help="JSON {prompt: [ids]} naming objects")
    parser.add_argument("--export_groups", action="store_true",
                        help="write each object group as its own PLY plus groups/index.json")
    parser.add_argument("--skip_render", action="store_true", help="do not render the edited model")
    parser.add_argument("--force", action="store_true", help="replace an earlier edit output")
    parser.add_argument("--backend", choices=BACKENDS, default="auto", help="rasterizer for rendering")
    parser.add_argument("--device", default="auto", help=DEVICE_HELP)
    parser.add_argument("--quiet", action="store_true")
    return parser


def edits_from_flags(args: argparse.Namespace) -> list[dict]:
    """The edits the operation flags ask for, in the order remove, swap, insert, recolour."""
    def objects(items: list[str]) -> list:
        return [int(item) if item.isdigit() else item for item in items]

    selection = {"convex_hull": True} if args.convex_hull else {}
    edits = []
    inpaint = inpaint_from_flags(args)
    if inpaint is not None and not args.remove:
        raise ConfigError("--inpaint fills what --remove leaves behind: give --remove OBJ (nothing is removed)")
    if args.remove:
        edits.append({"op": "remove", "objects": objects(args.remove), **selection,
                      **({"inpaint": inpaint} if inpaint is not None else {})})
    if args.swap:
        edits.append({"op": "swap", "objects": objects(args.swap), **selection})
    if args.insert:
        edits.append({"op": "insert", "ply": args.insert,
                      **({"translation": args.translation} if args.translation else {})})
    if args.recolour:
        colour = {"rgb": args.rgb} if args.rgb else {"shift": args.shift} if args.shift else {}
        edits.append({"op": "recolour", "objects": objects(args.recolour), **colour, **selection,
                      **({"view_dependent": False} if args.no_view_dependent else {})})
    return edits


INPAINT_FLAGS = {"inpainter": "inpainter", "lama_checkpoint": "lama_checkpoint", "inpaint_masks": "masks",
                 "inpaint_iterations": "iterations"}


def inpaint_from_flags(args: argparse.Namespace) -> dict | bool | None:
    """The removal's "inpaint" value from --inpaint and its option flags (None: not asked)."""
    options = {key: getattr(args, flag) for flag, key in INPAINT_FLAGS.items() if getattr(args, flag) is not None}
    if not args.inpaint:
        if options:
            raise ConfigError(f"--{next(f for f, k in INPAINT_FLAGS.items() if k in options)} needs --inpaint")
        return None
    return options or True


def plan_from_args(args: argparse.Namespace) -> EditPlan:
    """The edit file's plan with -m/-o/--iteration/--threshold/--prompt_ids/--export_groups
    typed on the command line winning, or the plan of the operation flags."""
    flags = {"model": args.model_path, "output": args.output, "iteration": args.iteration,
             "threshold": args.threshold, "prompt_ids": args.prompt_ids,
             "export_groups": args.export_groups or None}
    given = {key: value for key, value in flags.items() if value not in (None, "")}
    if args.edits:
        if any(getattr(args, flag) for flag in OPERATION_FLAGS) or args.inpaint:
            raise ConfigError("give the edits either in --edits or as operation flags, not both")
        return read_edit_plan(args.edits, overrides=given)
    return parse_edit_plan({**given, "edits": edits_from_flags(args)})


@exits_cleanly_on()
def main(argv=None) -> int:
    keep_freed_memory()   # no page-fault storm from per-iteration buffers (utils/memory.py)
    args = build_parser().parse_args(argv)
    plan = plan_from_args(args)
    out_path, record = run_edit_plan(plan, force=args.force, device=resolve_device(args.device))
    print(f"edited model: {out_path} ({record['gaussians_before']} -> "
          f"{record['gaussians_after']} Gaussians)")
    if plan.render and not args.skip_render:
        dataset = saved_params(ModelParams, out_path)
        render_model(dataset, PipelineParams(backend=args.backend, device=args.device), RenderRequest(
            skip_train=dataset.eval,  # the test views; all views without a split
            prompt_ids=record["prompt_ids"] or "", quiet=args.quiet))
    return 0


if __name__ == "__main__":
    sys.exit(main())
