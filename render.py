"""Render a trained model's train/test views: RGB, identity features, object ids, prompt masks.

    python render.py -m output/scene --skip_train --prompt_ids data/scene/prompts.json
    python render.py -m output/scene --skip_train --reference_masks masks/ --reference_view frame_00000
    python render.py -m output/scene --skip_train --prompt_ids prompts.json --boundary_overlay

Prompt -> ids: `--prompt_ids` by hand, `--reference_masks DIR` on `--reference_view` by
intersection over area, or `--text_prompts` with a local Grounded-SAM (`apps/render_model.py`).
"""
import argparse
import sys

from apps.prompt_selection import DEFAULT_IOA_THRESHOLD
from apps.render_model import RenderRequest, render_model
from arguments import ModelParams, PipelineParams, add_group, combine_with_cfg_args, extract
from utils.errors import exits_cleanly_on
from utils.memory import keep_freed_memory


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


@exits_cleanly_on()
def main(argv=None) -> int:
    keep_freed_memory()   # no page-fault storm from per-iteration buffers (utils/memory.py)
    args = combine_with_cfg_args(build_parser(), argv)
    render_model(extract(ModelParams, args), extract(PipelineParams, args), extract(RenderRequest, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
