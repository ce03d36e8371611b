"""Render a trained model folder's views (what `render.py` and `edit.py` run): load the saved
iteration and its classifier, choose the prompts' ids, and export every split
(`apps.render_export`).

Prompt -> ids: `prompt_ids` gives them by hand (the paper's manual selection);
`reference_masks` holds one `<prompt>.png` per prompt drawn on `reference_view` (default: the
first test view, as Gaussian Grouping) and selects the ids by intersection over area;
`text_prompts` with `grounded_sam` makes those masks with a locally installed Grounding DINO +
SAM. Prompt masks are written for the test views.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from apps.prompt_selection import (
    DEFAULT_IOA_THRESHOLD,
    grounded_sam_masks,
    load_grounded_sam_config,
    read_reference_masks,
)
from apps.render_export import (
    clear_prompt_outputs,
    export_split,
    load_prompt_ids,
    render_identity,
    select_ids_on_view,
    unpredicted_prompt_ids,
    write_selection_record,
)
from arguments import ConfigError, ModelParams, PipelineParams
from gaussian_renderer.device import resolve_device
from scene import Scene
from scene.gaussian_model import GaussianModel
from scene.model_folder import background_color, load_classifier, point_cloud_dir
from utils.visualization import to_uint8_rgb


@dataclass
class RenderRequest:
    """What to render, besides the model (ModelParams) and the rasterizer (PipelineParams)."""
    iteration: int = -1                 # saved iteration, -1: the latest
    skip_train: bool = False
    skip_test: bool = False
    prompt_ids: str = ""                # JSON {prompt: [ids]}
    reference_masks: str = ""           # folder of <prompt>.png on reference_view
    text_prompts: str = ""              # "a;b;c" for Grounded-SAM
    grounded_sam: str = ""              # its JSON config (local checkpoints)
    reference_view: str = ""            # image name (default: the first test view)
    ioa_threshold: float = DEFAULT_IOA_THRESHOLD
    mask_threshold: float = 0.2
    boundary_overlay: bool = False
    gt_masks: str = ""                  # overlay ground truth (default: <source>/test_mask)
    quiet: bool = False


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


def choose_prompts(request: RenderRequest, scene: Scene, gaussians, classifier, pipe, background,
                   out_dir: str) -> dict[str, list[int]] | None:
    """The prompt -> ids map from whichever prompt source was given (None without one)."""
    sources = [flag for flag in ("prompt_ids", "reference_masks", "text_prompts") if getattr(request, flag)]
    if len(sources) > 1:
        raise ConfigError(f"give one prompt source, not {' and '.join('--' + s for s in sources)}")
    if request.prompt_ids:
        return load_prompt_ids(request.prompt_ids, classifier.num_classes)
    if not sources:
        return None
    camera = find_camera(scene, request.reference_view)
    if request.reference_masks:
        masks, source = read_reference_masks(request.reference_masks), request.reference_masks
    else:
        if not request.grounded_sam:
            raise ConfigError("--text_prompts needs --grounded_sam CONFIG (local checkpoints)")
        out, _ = render_identity(camera, gaussians, classifier, pipe, background)
        texts = [t.strip() for t in request.text_prompts.split(";") if t.strip()]
        masks = grounded_sam_masks(to_uint8_rgb(out["render"]), texts,
                                   load_grounded_sam_config(request.grounded_sam))
        source = f"Grounded-SAM on the render ({request.grounded_sam})"
    selections = select_ids_on_view(camera, gaussians, classifier, pipe, background, masks,
                                    request.reference_masks, request.ioa_threshold)
    write_selection_record(os.path.join(out_dir, "reference_selection.json"), camera.image_name,
                           source, request.ioa_threshold, selections)
    for prompt, selection in selections.items():
        if not selection.ids:
            print(f"warning: no id of view {camera.image_name} lies more than {request.ioa_threshold:.0%} "
                  f"inside the mask of '{prompt}'; its masks will be empty", file=sys.stderr)
    return {prompt: selection.ids for prompt, selection in selections.items()}


def render_model(dataset: ModelParams, pipe: PipelineParams, request: RenderRequest) -> dict[str, str]:
    """Render the model folder `dataset.model_path`; returns split -> output folder."""
    device = resolve_device(pipe.device)
    gaussians = GaussianModel(dataset.sh_degree, dataset.num_objects, device)
    scene = Scene(dataset, gaussians, load_iteration=request.iteration)
    iteration = scene.loaded_iter
    classifier = load_classifier(point_cloud_dir(dataset.model_path, iteration), dataset.num_objects,
                                 dataset.num_classes, device, os.path.join(dataset.model_path, "cfg_args"))
    background = background_color(dataset.white_background, device)
    test_dir = os.path.join(dataset.model_path, "test", f"ours_{iteration}")
    if not request.skip_test:
        clear_prompt_outputs(test_dir)   # a re-render with fewer prompts leaves no stale mask
    prompts = choose_prompts(request, scene, gaussians, classifier, pipe, background, test_dir)
    for prompt, unused in unpredicted_prompt_ids(prompts or {}, gaussians, classifier).items():
        print(f"warning: prompt '{prompt}': no Gaussian of iteration {iteration} predicts id(s) "
              f"{unused}; its masks will likely be empty", file=sys.stderr)
    overlay_gt_dir = None
    if request.boundary_overlay:
        if prompts is None:
            raise ConfigError("--boundary_overlay needs prompts (--prompt_ids, --reference_masks "
                              "or --text_prompts)")
        overlay_gt_dir = request.gt_masks or os.path.join(dataset.source_path, "test_mask")
        if not os.path.isdir(overlay_gt_dir):
            raise FileNotFoundError(f"ground-truth masks for --boundary_overlay not found: "
                                    f"{overlay_gt_dir} (give --gt_masks)")
    written = {}
    splits = {"train": scene.getTrainCameras(), "test": scene.getTestCameras()}
    for split, cameras in splits.items():
        if getattr(request, f"skip_{split}") or not cameras:
            continue
        out_dir = os.path.join(dataset.model_path, split, f"ours_{iteration}")
        is_test = split == "test"
        export_split(out_dir, cameras, gaussians, classifier, pipe, background,
                     prompts=prompts if is_test else None, mask_threshold=request.mask_threshold,
                     overlay_gt_dir=overlay_gt_dir if is_test else None, quiet=request.quiet)
        print(f"{split}: {len(cameras)} views -> {out_dir}")
        written[split] = out_dir
    return written
