"""Prompt -> ids by intersection over area, GG's prompt-mask rule, boundary overlays, and the
export of prompt masks and overlays from a rendered stand-in model."""
import json
import os
import sys
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch

from apps.prompt_selection import (
    GROUNDED_SAM_HELP,
    GroundedSamConfig,
    grounded_sam_masks,
    intersection_over_area,
    read_reference_masks,
    select_ids,
    select_prompt_ids,
)
from apps.render_export import (
    BOTH_COLOR,
    GT_COLOR,
    PRED_COLOR,
    boundary_overlay,
    export_split,
    prompt_masks,
    render_identity,
    select_ids_on_view,
)
from evaluation.segmentation_metrics import mask_to_boundary
from scene.identity_classifier import IdentityClassifier
from tests.test_reference_rasterizer import make_camera
from utils.general_utils import build_scaling_rotation, strip_symmetric
from utils.graphics_utils import look_at_world_to_camera


def gg_select_obj_ioa(id_map: np.ndarray, mask: np.ndarray, threshold: float) -> list[int]:
    """Gaussian Grouping's `select_obj_ioa` loop (ext/grounded_sam.py), as the oracle."""
    ids = []
    for class_id in np.unique(id_map):
        class_mask = id_map == class_id
        if (class_mask & mask).sum() / class_mask.sum() > threshold:
            ids.append(int(class_id))
    return ids


def test_intersection_over_area_by_hand():
    id_map = np.array([[0, 0, 1, 1],
                       [0, 0, 1, 1],
                       [2, 2, 2, 2],
                       [2, 2, 2, 2]])
    mask = np.zeros((4, 4), dtype=bool)
    mask[0:3, 1:4] = True      # 2 of id 0's 4 pixels, all 4 of id 1's, 3 of id 2's 8
    assert intersection_over_area(id_map, mask) == {0: 0.5, 1: 1.0, 2: 3 / 8}
    selection = select_ids("cup", id_map, mask, threshold=0.4)
    assert selection.ids == [0, 1] and selection.mask_pixels == 9


def test_threshold_is_strict_as_gg():
    id_map = np.repeat(np.arange(2), 10).reshape(4, 5)   # id 0: first 10 pixels, id 1: the rest
    mask = np.zeros(20, dtype=bool)
    mask[:7] = True                                      # id 0 exactly 0.7 inside
    mask[10:18] = True                                   # id 1 0.8 inside
    assert select_ids("p", id_map, mask.reshape(4, 5), 0.7).ids == [1]


def test_matches_gg_loop_on_random_maps():
    rng = np.random.default_rng(0)
    for _ in range(20):
        id_map = rng.integers(0, 6, size=(17, 23))
        id_map[rng.random((17, 23)) < 0.5] = 3           # one large id
        mask = rng.random((17, 23)) < rng.uniform(0.2, 0.9)
        threshold = rng.uniform(0.1, 0.9)
        assert select_ids("p", id_map, mask, threshold).ids == gg_select_obj_ioa(id_map, mask, threshold)


def test_bad_threshold_and_shape_are_errors():
    with pytest.raises(ValueError, match="threshold"):
        select_ids("p", np.zeros((2, 2), int), np.zeros((2, 2), bool), 1.0)
    with pytest.raises(ValueError, match="boolean with the id map's shape"):
        intersection_over_area(np.zeros((2, 2), int), np.zeros((2, 3), bool))


def write_mask(path, mask):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    assert cv2.imwrite(str(path), mask.astype(np.uint8) * 255)


def test_reference_masks_read_and_resized(tmp_path):
    id_map = np.zeros((6, 8), dtype=np.int64)
    id_map[:, 4:] = 5
    mask = np.zeros((12, 16), dtype=bool)                 # drawn at twice the render's size
    mask[:, 8:] = True
    write_mask(tmp_path / "refs" / "right half.png", mask)
    (tmp_path / "refs" / "notes.txt").write_text("ignored")
    masks = read_reference_masks(str(tmp_path / "refs"))
    assert list(masks) == ["right half"]
    selections = select_prompt_ids(id_map, masks, str(tmp_path / "refs"))
    assert selections["right half"].ids == [5]
    assert selections["right half"].ioa == {0: 0.0, 5: 1.0}
    with pytest.raises(ValueError, match=r"right half\.png.*aspect"):
        select_prompt_ids(np.zeros((8, 8), int), masks, str(tmp_path / "refs"))


def test_reference_mask_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="reference mask folder not found"):
        read_reference_masks(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no <prompt>.png"):
        read_reference_masks(str(tmp_path / "empty"))


def test_prompt_mask_rule_is_any_id_above_threshold():
    # Pixel 0: ids 1 and 2 at 0.15 each (sum 0.3 but neither above 0.2): out, as in GG.
    # Pixel 1: id 2 at 0.25: in. Probabilities from logits log(p).
    probs = np.array([[0.70, 0.50], [0.15, 0.25], [0.15, 0.25]])
    logits = torch.tensor(np.log(probs), dtype=torch.float32).reshape(3, 1, 2)
    masks = prompt_masks(logits, {"both": [1, 2], "none": []}, threshold=0.2)
    np.testing.assert_array_equal(masks["both"], [[False, True]])
    np.testing.assert_array_equal(masks["none"], [[False, False]])


def test_boundary_overlay_colours():
    rgb = np.full((10, 10, 3), 100, np.uint8)
    gt = np.zeros((10, 10), bool)
    gt[0:5, 0:10] = True                  # touches the top, left and right borders
    pred = np.zeros((10, 10), bool)
    pred[0:6, 0:10] = True
    image = boundary_overlay(rgb, [pred], [gt])
    both = mask_to_boundary(pred, 0.003) & mask_to_boundary(gt, 0.003)
    assert both[0].all()                  # the image border is a boundary of both
    np.testing.assert_array_equal(image[0, 3], BOTH_COLOR)
    np.testing.assert_array_equal(image[5, 3], PRED_COLOR)   # pred's bottom row only
    np.testing.assert_array_equal(image[4, 3], GT_COLOR)     # gt's bottom row only
    np.testing.assert_array_equal(image[2, 3], [100, 100, 100])   # inside both: untouched
    np.testing.assert_array_equal(image[8, 3], [100, 100, 100])
    assert (rgb == 100).all()             # the input is not modified


# ----------------------------------------------------------------------------- a rendered stand-in

NUM_OBJECTS, NUM_CLASSES = 4, 8
LEFT_ID, RIGHT_ID = 3, 5


def blob_model(x_range):
    """Stand-in GaussianModel: a 6x6 sheet of opaque Gaussians at y = 0, x in `x_range`,
    z in [-0.6, 0.6]; the left sheet's identity points at classifier id 3, the right one's at 5."""
    xs, zs = np.meshgrid(np.linspace(*x_range, 6), np.linspace(-0.6, 0.6, 6))
    xyz = torch.tensor(np.stack([xs.ravel(), np.zeros(36), zs.ravel()], axis=1), dtype=torch.float32)
    n = len(xyz)
    scaling = torch.full((n, 3), 0.1)
    rotation = torch.tensor([[1.0, 0.0, 0.0, 0.0]]).repeat(n, 1)
    objects = torch.zeros(n, 1, NUM_OBJECTS)
    objects[:, 0, 0 if x_range[0] < 0 else 1] = 4.0

    def get_covariance(modifier: float) -> torch.Tensor:
        L = build_scaling_rotation(modifier * scaling, rotation)
        return strip_symmetric(L @ L.transpose(1, 2))

    return SimpleNamespace(get_xyz=xyz, get_opacity=torch.full((n, 1), 0.95),
                           get_features=torch.full((n, 1, 3), 0.5), get_objects=objects,
                           get_scaling=scaling, get_rotation=rotation, get_covariance=get_covariance,
                           active_sh_degree=0, max_sh_degree=0, num_objects=NUM_OBJECTS)


def merge(a, b):
    return SimpleNamespace(**{k: torch.cat([getattr(a, k), getattr(b, k)]) for k in
                              ("get_xyz", "get_opacity", "get_features", "get_objects", "get_scaling",
                               "get_rotation")},
                           get_covariance=lambda m: torch.cat([a.get_covariance(m), b.get_covariance(m)]),
                           active_sh_degree=0, max_sh_degree=0, num_objects=NUM_OBJECTS)


def classifier() -> IdentityClassifier:
    """Identity channel 0 -> id 3, channel 1 -> id 5; nothing rendered -> id 0 (bias)."""
    model = IdentityClassifier(NUM_OBJECTS, NUM_CLASSES)
    with torch.no_grad():
        model.weight.zero_()
        model.bias.zero_()
        model.weight[LEFT_ID, 0] = 1.0
        model.weight[RIGHT_ID, 1] = 1.0
        model.bias[0] = 1.0
    return model


PIPE = SimpleNamespace(convert_SHs_python=False, compute_cov3D_python=False, debug=False, backend="reference")
BG = torch.zeros(3)


def view(name="view0"):
    camera = make_camera(width=48, height=32, fovx=1.2,
                         w2c=look_at_world_to_camera(np.array([0.0, -4.0, 0.0]), np.zeros(3)))
    camera.image_name = name
    camera.original_image = torch.full((3, 32, 48), 0.5)
    camera.objects = None
    return camera


def detector_masks():
    """What a detector would return for each object: where that object alone covers the view."""
    camera = view()
    left, right = blob_model((-1.6, -0.4)), blob_model((0.4, 1.6))
    return {name: (render_identity(camera, part, classifier(), PIPE, BG)[0]["alpha"][0] > 0.5).numpy()
            for name, part in (("left sheet", left), ("right sheet", right))}


def test_reference_selection_on_a_rendered_view_picks_each_objects_id():
    model = merge(blob_model((-1.6, -0.4)), blob_model((0.4, 1.6)))
    masks = detector_masks()
    assert all(m.sum() > 50 for m in masks.values())
    selections = select_ids_on_view(view(), model, classifier(), PIPE, BG, masks, "refs", 0.7)
    assert selections["left sheet"].ids == [LEFT_ID]
    assert selections["right sheet"].ids == [RIGHT_ID]
    assert selections["left sheet"].ioa[0] < 0.2 and selections["left sheet"].ioa[RIGHT_ID] == 0.0


def test_export_writes_prompt_masks_and_overlays(tmp_path):
    model = merge(blob_model((-1.6, -0.4)), blob_model((0.4, 1.6)))
    masks = detector_masks()
    for name, mask in masks.items():
        write_mask(tmp_path / "gt" / "view0" / f"{name}.png", mask)
    prompts = {"left sheet": [LEFT_ID], "right sheet": [RIGHT_ID]}
    out = tmp_path / "test" / "ours_7"
    export_split(str(out), [view()], model, classifier(), PIPE, BG, prompts=prompts, mask_threshold=0.2,
                 overlay_gt_dir=str(tmp_path / "gt"), quiet=True)
    _, logits = render_identity(view(), model, classifier(), PIPE, BG)
    expected = (torch.softmax(logits, dim=0)[LEFT_ID] > 0.2).numpy()
    written = cv2.imread(str(out / "test_mask" / "view0" / "left sheet.png"), cv2.IMREAD_GRAYSCALE)
    np.testing.assert_array_equal(written > 128, expected)
    assert json.loads((out / "prompts.json").read_text()) == prompts
    overlay = cv2.cvtColor(cv2.imread(str(out / "boundary_overlay" / "view0.png")), cv2.COLOR_BGR2RGB)
    colours = {tuple(c) for c in overlay.reshape(-1, 3)}
    assert tuple(GT_COLOR) in colours or tuple(BOTH_COLOR) in colours
    assert tuple(PRED_COLOR) in colours or tuple(BOTH_COLOR) in colours
    with pytest.raises(ValueError, match="boundary overlays need prompts"):
        export_split(str(out), [view()], model, classifier(), PIPE, BG, overlay_gt_dir=str(tmp_path))


def test_grounded_sam_absent_is_a_clear_message(monkeypatch):
    monkeypatch.setitem(sys.modules, "groundingdino", None)      # import now fails
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):       # the adapter sets them
        monkeypatch.setenv(name, "1")
    config = GroundedSamConfig("cfg.py", "dino.pth", "sam.pth")
    with pytest.raises(ImportError) as err:
        grounded_sam_masks(np.zeros((4, 4, 3), np.uint8), ["cup"], config)
    assert GROUNDED_SAM_HELP in str(err.value) and "--reference_masks" in str(err.value)


def fake_grounded_sam_modules(boxes_by_prompt):
    """Stand-ins for the groundingdino / segment_anything calls the adapter makes: Grounding DINO
    returns `boxes_by_prompt[caption]` (normalised cx, cy, w, h); SAM fills each box."""
    from types import ModuleType

    def module(name, **attributes):
        mod = ModuleType(name)
        mod.__dict__.update(attributes)
        return mod

    step = lambda image, target: (image, target)
    transforms = module("groundingdino.datasets.transforms", Compose=lambda steps: lambda i, t: (i, t),
                        RandomResize=lambda *a, **k: step, ToTensor=lambda: step, Normalize=lambda *a: step)

    def box_cxcywh_to_xyxy(boxes):
        cx, cy, w, h = boxes.unbind(-1)
        return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1)

    def predict(model, image, caption, box_threshold, text_threshold, device):
        boxes = torch.tensor(boxes_by_prompt[caption], dtype=torch.float32).reshape(-1, 4)
        return boxes, torch.ones(len(boxes)), [caption] * len(boxes)

    class Predictor:
        def __init__(self, sam):
            self.transform = SimpleNamespace(apply_boxes_torch=lambda boxes, size: boxes)

        def set_image(self, image):
            self.shape = image.shape[:2]

        def predict_torch(self, point_coords, point_labels, boxes, multimask_output):
            masks = torch.zeros(len(boxes), 1, *self.shape, dtype=torch.bool)
            for i, (x0, y0, x1, y1) in enumerate(boxes.round().long().tolist()):
                masks[i, 0, y0:y1, x0:x1] = True
            return masks, None, None

    sam = SimpleNamespace(to=lambda device: sam)
    return {
        "groundingdino": module("groundingdino"), "groundingdino.datasets": module("groundingdino.datasets"),
        "groundingdino.datasets.transforms": transforms, "groundingdino.util": module("groundingdino.util"),
        "groundingdino.util.box_ops": module("groundingdino.util.box_ops", box_cxcywh_to_xyxy=box_cxcywh_to_xyxy),
        "groundingdino.util.inference": module("groundingdino.util.inference", predict=predict,
                                               load_model=lambda config, checkpoint, device: "dino"),
        "segment_anything": module("segment_anything", SamPredictor=Predictor,
                                   sam_model_registry={"vit_h": lambda checkpoint: sam}),
    }


def test_grounded_sam_boxes_become_united_masks(monkeypatch):
    # "cups": two boxes, (cx, cy, w, h) normalised -> pixels [2, 6) x [1, 3) and [4, 8) x [5, 7)
    # of a 8 wide, 8 high image; "bear": no box.
    boxes = {"cups": [[0.5, 0.25, 0.5, 0.25], [0.75, 0.75, 0.5, 0.25]], "bear": []}
    for name, mod in fake_grounded_sam_modules(boxes).items():
        monkeypatch.setitem(sys.modules, name, mod)
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.setenv(name, "1")
    masks = grounded_sam_masks(np.zeros((8, 8, 3), np.uint8), ["cups", "bear"],
                               GroundedSamConfig("cfg.py", "dino.pth", "sam.pth"))
    expected = np.zeros((8, 8), bool)
    expected[1:3, 2:6] = True
    expected[5:7, 4:8] = True
    np.testing.assert_array_equal(masks["cups"], expected)
    assert masks["bear"].shape == (8, 8) and not masks["bear"].any()
