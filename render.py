"""Render a trained model's train/test views: RGB, identity features, object ids, prompt masks.

    python render.py -m output/scene --skip_train --prompt_ids data/scene/prompts.json
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
from utils.render_export import export_split, load_prompt_ids


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Render a trained GradiSeg model")
    add_group(parser, ModelParams)
    add_group(parser, PipelineParams)
    parser.add_argument("--iteration", type=int, default=-1, help="saved iteration (-1: latest)")
    parser.add_argument("--skip_train", action="store_true")
    parser.add_argument("--skip_test", action="store_true")
    parser.add_argument("--prompt_ids", default="", help="JSON {prompt: [ids]} -> test_mask/ output")
    parser.add_argument("--mask_threshold", type=float, default=0.2,
                        help="summed probability of a prompt's ids above which a pixel is in its mask")
    parser.add_argument("--quiet", action="store_true")
    return parser


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
        prompts = load_prompt_ids(args.prompt_ids, dataset.num_classes) if args.prompt_ids else None
        background = torch.tensor([1.0, 1.0, 1.0] if dataset.white_background else [0.0, 0.0, 0.0])
        splits = {"train": scene.getTrainCameras(), "test": scene.getTestCameras()}
        for split, cameras in splits.items():
            if getattr(args, f"skip_{split}") or not cameras:
                continue
            out_dir = os.path.join(dataset.model_path, split, f"ours_{iteration}")
            export_split(out_dir, cameras, gaussians, classifier, pipe, background,
                         prompts=prompts if split == "test" else None,
                         mask_threshold=args.mask_threshold, quiet=args.quiet)
            print(f"{split}: {len(cameras)} views -> {out_dir}")
    except (ConfigError, DataError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
