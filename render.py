"""Render a trained model's train/test views: RGB, identity features, object ids, prompt masks.

    python render.py -m output/scene --skip_train --prompt_ids data/scene/prompts.json
    python render.py -m output/scene --skip_train --reference_masks masks/ --reference_view frame_00000
    python render.py -m output/scene --skip_train --prompt_ids prompts.json --boundary_overlay

Prompt -> ids (DESIGN section 6): `--prompt_ids` gives them by hand (the paper's manual
selection); `--reference_masks DIR` holds one `<prompt>.png` per prompt drawn on
`--reference_view` (default: the first test view, as Gaussian Grouping) and selects the ids by
intersection over area; `--text_prompts` with `--grounded_sam CONFIG` makes those masks with a
locally installed Grounding DINO + SAM. Prompt masks are written for the test views.
"""
import argparse
import os
import sys

import torch

from arguments import (ConfigError, ModelParams, PipelineParams, add_group, combine_with_cfg_args,
                       extract)
from scene import Scene, point_cloud_dir
from scene.errors import DataError
from scene.gaussian_model import GaussianModel
from scene.identity_classifier import IdentityClassifier
from utils.atomic_io import torch_load_checked
from utils.prompt_selection import (DEFAULT_IOA_THRESHOLD, grounded_sam_masks,
                                    load_grounded_sam_config, read_reference_masks)
from utils.render_export import (clear_prompt_outputs, export_split, load_prompt_ids,
                                 render_identity, select_ids_on_view, unpredicted_prompt_ids,
                                 write_selection_record)
from utils.visualization import to_uint8_rgb


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Render a trained GradiSeg model")
    add_group(parser, ModelParams)
    add_group(parser, PipelineParams)
    parser.add_argument("--iteration", type=int, default=-1, help="saved iteration (-1: latest)")
    parser.add_argument("--skip_train", action="store_true")
    parser.add_argument("--skip_test", action="store_true")
    prompts = parser.add_argument_group("prompts (test views get test_mask/<view>/<prompt>.png)")
    prompts.add_argument("--prompt_ids", default="", help="JSON {prompt: [ids]} (manual selection)")
    prompts.add_argument("--reference_masks", default="",
                         help="folder of <prompt>.png masks on --reference_view; ids by intersection over area")
    prompts.add_argument("--text_prompts", default="",
                         help="'a;b;c': reference masks from Grounded-SAM (needs --grounded_sam)")
    prompts.add_argument("--grounded_sam", default="",
                         help="JSON with dino_config, dino_checkpoint, sam_checkpoint (local files)")
    prompts.add_argument("--reference_view", default="",
                         help="image name of the view the reference masks belong to (default: first test view)")
    prompts.add_argument("--ioa_threshold", type=float, default=DEFAULT_IOA_THRESHOLD,
                         help="an id is selected when more than this fraction of its pixels is inside the mask")
    prompts.add_argument("--mask_threshold", type=float, default=0.2,
                         help="a pixel is in a prompt's mask when one of its ids has a higher probability")
    prompts.add_argument("--boundary_overlay", action="store_true",
                         help="draw predicted (red) vs ground-truth (green) boundaries on the test renders")
    prompts.add_argument("--gt_masks", default="",
                         help="ground truth for the overlays (default: <source_path>/test_mask)")
    parser.add_argument("--quiet", action="store_true")
    return parser


def find_camera(scene: Scene, name: str):
    """The test or train camera whose image name is `name`; the first test camera if empty."""
    tests, trains = scene.getTestCameras(), scene.getTrainCameras()
    if not name:
        if not tests:
            raise ConfigError("the model has no test views: name the reference view with --reference_view")
        return tests[0]
    for camera in list(tests) + list(trains):
        if camera.image_name == name:
            return camera
    raise ConfigError(f"--reference_view '{name}' is not a view of {scene.model_path}")


def choose_prompts(args, scene: Scene, gaussians, classifier, pipe, background,
                   out_dir: str) -> dict[str, list[int]] | None:
    """The prompt -> ids map from whichever prompt source was given (None without one)."""
    sources = [flag for flag in ("prompt_ids", "reference_masks", "text_prompts") if getattr(args, flag)]
    if len(sources) > 1:
        raise ConfigError(f"give one prompt source, not {' and '.join('--' + s for s in sources)}")
    if args.prompt_ids:
        return load_prompt_ids(args.prompt_ids, classifier.num_classes)
    if not sources:
        return None
    camera = find_camera(scene, args.reference_view)
    if args.reference_masks:
        masks, source = read_reference_masks(args.reference_masks), args.reference_masks
    else:
        if not args.grounded_sam:
            raise ConfigError("--text_prompts needs --grounded_sam CONFIG (local checkpoints)")
        out, _ = render_identity(camera, gaussians, classifier, pipe, background)
        texts = [t.strip() for t in args.text_prompts.split(";") if t.strip()]
        masks = grounded_sam_masks(to_uint8_rgb(out["render"]), texts,
                                   load_grounded_sam_config(args.grounded_sam))
        source = f"Grounded-SAM on the render ({args.grounded_sam})"
    selections = select_ids_on_view(camera, gaussians, classifier, pipe, background, masks,
                                    args.reference_masks, args.ioa_threshold)
    write_selection_record(os.path.join(out_dir, "reference_selection.json"), camera.image_name,
                           source, args.ioa_threshold, selections)
    for prompt, selection in selections.items():
        if not selection.ids:
            print(f"warning: no id of view {camera.image_name} lies more than {args.ioa_threshold:.0%} "
                  f"inside the mask of '{prompt}'; its masks will be empty", file=sys.stderr)
    return {prompt: selection.ids for prompt, selection in selections.items()}


def main(argv=None) -> int:
    try:
        args = combine_with_cfg_args(build_parser(), argv)
        dataset, pipe = extract(ModelParams, args), extract(PipelineParams, args)
        gaussians = GaussianModel(dataset.sh_degree, dataset.num_objects)
        scene = Scene(dataset, gaussians, load_iteration=args.iteration)
        iteration = scene.loaded_iter
        classifier = IdentityClassifier(dataset.num_objects, dataset.num_classes)
        classifier.load_state_dict(torch_load_checked(
            os.path.join(point_cloud_dir(dataset.model_path, iteration), "classifier.pth"), "classifier"))
        background = torch.tensor([1.0, 1.0, 1.0] if dataset.white_background else [0.0, 0.0, 0.0])
        test_dir = os.path.join(dataset.model_path, "test", f"ours_{iteration}")
        if not args.skip_test:
            clear_prompt_outputs(test_dir)
        prompts = choose_prompts(args, scene, gaussians, classifier, pipe, background, test_dir)
        for prompt, unused in unpredicted_prompt_ids(prompts or {}, gaussians, classifier).items():
            print(f"warning: prompt '{prompt}': no Gaussian of iteration {iteration} predicts id(s) "
                  f"{unused}; its masks will likely be empty", file=sys.stderr)
        overlay_gt_dir = None
        if args.boundary_overlay:
            if prompts is None:
                raise ConfigError("--boundary_overlay needs prompts (--prompt_ids, --reference_masks "
                                  "or --text_prompts)")
            overlay_gt_dir = args.gt_masks or os.path.join(dataset.source_path, "test_mask")
            if not os.path.isdir(overlay_gt_dir):
                raise FileNotFoundError(f"ground-truth masks for --boundary_overlay not found: "
                                        f"{overlay_gt_dir} (give --gt_masks)")
        splits = {"train": scene.getTrainCameras(), "test": scene.getTestCameras()}
        for split, cameras in splits.items():
            if getattr(args, f"skip_{split}") or not cameras:
                continue
            out_dir = os.path.join(dataset.model_path, split, f"ours_{iteration}")
            is_test = split == "test"
            export_split(out_dir, cameras, gaussians, classifier, pipe, background,
                         prompts=prompts if is_test else None, mask_threshold=args.mask_threshold,
                         overlay_gt_dir=overlay_gt_dir if is_test else None, quiet=args.quiet)
            print(f"{split}: {len(cameras)} views -> {out_dir}")
    except (ConfigError, DataError, OSError, ValueError, ImportError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
