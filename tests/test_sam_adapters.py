"""prepare_masks.py --sam against the real `segment_anything` and `sam2` packages (requirements-sam.txt).

Each model is built randomly initialised by its library's own builder and its checkpoint saved to
a temporary file (no weights are downloaded); the masks are meaningless, what is tested is that
the adapters in prep/mask_sources.py call the real automatic mask generators, pass the config's
options through and turn their output into valid id maps. Where a library cannot be imported
the tests skip, saying why (and the one-line hint of a missing library is tested without it).
"""
import importlib
import json
import os
import sys

import numpy as np
import pytest
import torch

import prep.prepare
import prepare_masks
from bench.synthetic.scene import SyntheticSceneConfig, make_synthetic_scene
from prep.geometry import read_reconstruction, scene_views
from prep.mask_sources import load_sam_config, sam_generator, sam_masks
from utils.image_io import read_id_map, read_rgb

NUM_VIEWS, WIDTH, HEIGHT = 2, 96, 72
# Few prompts and no quality filter: random weights rarely pass SAM's default thresholds.
OPEN_GENERATOR = {"points_per_side": 2, "pred_iou_thresh": 0.0, "stability_score_thresh": 0.0}
CLOSED_GENERATOR = {"points_per_side": 2, "pred_iou_thresh": 0.0, "stability_score_thresh": 1.01}


def real_module(name: str):
    """The installed library, or a skip that says why it cannot be imported here."""
    try:
        return importlib.import_module(name)
    except ImportError as err:   # e.g. no torchvision build for this torch
        pytest.skip(f"'{name}' cannot be imported here ({err}); `make test` installs requirements-sam.txt "
                    "when it can")


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> str:
    """A converted scene (images/, sparse/0/) of NUM_VIEWS small views."""
    root = str(tmp_path_factory.mktemp("sam") / "scene")
    make_synthetic_scene(root, SyntheticSceneConfig(num_views=NUM_VIEWS, width=WIDTH, height=HEIGHT,
                                                    supersample=1, num_points=200))
    return root


@pytest.fixture(scope="module")
def sam_checkpoint(tmp_path_factory) -> str:
    """SAM ViT-B, randomly initialised by segment_anything's builder; its state dict on disk."""
    segment_anything = real_module("segment_anything")
    torch.manual_seed(0)
    model = segment_anything.sam_model_registry["vit_b"]()
    path = str(tmp_path_factory.mktemp("sam_ckpt") / "sam_vit_b_random.pth")
    torch.save(model.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def sam2_checkpoint(tmp_path_factory) -> str:
    """SAM 2.1 Hiera-T, randomly initialised by sam2's builder; saved as the releases are ({"model": ...})."""
    build_sam = real_module("sam2.build_sam")
    real_module("sam2.automatic_mask_generator")   # the adapter's other import (needs torchvision)
    torch.manual_seed(0)
    model = build_sam.build_sam2("configs/sam2.1/sam2.1_hiera_t.yaml", None, device="cpu")
    path = str(tmp_path_factory.mktemp("sam2_ckpt") / "sam2.1_hiera_tiny_random.pt")
    torch.save({"model": model.state_dict()}, path)
    return path


def write_config(path, **config) -> str:
    path.write_text(json.dumps(config))
    return str(path)


def first_image(scene: str) -> np.ndarray:
    """The scene's first view as SAM takes it: (H, W, 3) uint8 RGB."""
    name = sorted(os.listdir(os.path.join(scene, "images")))[0]
    return (read_rgb(os.path.join(scene, "images", name), white_background=False) * 255).round().astype(np.uint8)


def check_adapter(scene: str, tmp_path, **model) -> None:
    """The adapter's masks for one image are boolean and image-sized; the generator options reach
    the real generator (an impossible stability threshold leaves no mask)."""
    image = first_image(scene)
    masks = sam_generator(load_sam_config(write_config(tmp_path / "open.json", generator=OPEN_GENERATOR, **model)))(image)
    assert 0 < len(masks) <= 3 * 4     # at most 3 masks for each of the 2 x 2 prompts
    assert all(m.dtype == bool and m.shape == (HEIGHT, WIDTH) for m in masks)
    closed = write_config(tmp_path / "closed.json", generator=CLOSED_GENERATOR, **model)
    assert sam_generator(load_sam_config(closed))(image) == []


def check_prepare_masks(scene: str, tmp_path, capsys, monkeypatch, out: str, **model) -> None:
    """`prepare_masks.py --sam CONFIG` end to end: valid id maps per view, every one counted."""
    config = write_config(tmp_path / f"{out}.json", generator=OPEN_GENERATOR, min_area=1, **model)
    made = []   # the per-view id maps the adapter hands to the association

    def recorded(*args, **kwargs):
        made.extend(sam_masks(*args, **kwargs))
        return made

    monkeypatch.setattr(prep.prepare, "sam_masks", recorded)
    assert prepare_masks.main(["-s", scene, "--sam", config, "--out", out, "--min_views", "1"]) == 0
    assert "objects:" in capsys.readouterr().out
    reconstruction, model_dir = read_reconstruction(scene)
    views = scene_views(reconstruction, model_dir)
    assert len(made) == len(views) == NUM_VIEWS
    for ids, view in zip(made, views):
        assert ids.dtype == np.uint16 and ids.shape == (view.height, view.width)
        assert set(np.unique(ids)) <= set(range(int(ids.max()) + 1))   # ids 0..K, none skipped
        assert 1 <= ids.max() <= 12
    record = json.load(open(os.path.join(scene, out, "association.json")))
    assert record["settings"]["source"] == config
    assert record["num_masks"] == sum(int(ids.max()) for ids in made)
    for view in views:
        written = read_id_map(os.path.join(scene, out, view.name + ".png"))
        assert written.shape == (view.height, view.width)


@pytest.mark.slow
def test_sam_vit_b_through_the_real_automatic_mask_generator(scene, sam_checkpoint, tmp_path, capsys, monkeypatch):
    model = {"model": "sam", "model_type": "vit_b", "checkpoint": sam_checkpoint, "device": "cpu"}
    check_adapter(scene, tmp_path, **model)
    check_prepare_masks(scene, tmp_path, capsys, monkeypatch, "object_mask_sam", **model)


@pytest.mark.slow
def test_sam2_tiny_through_the_real_automatic_mask_generator(scene, sam2_checkpoint, tmp_path, capsys,
                                                            monkeypatch):
    model = {"model": "sam2", "config": "configs/sam2.1/sam2.1_hiera_t.yaml", "checkpoint": sam2_checkpoint,
             "device": "cpu"}
    check_adapter(scene, tmp_path, **model)
    check_prepare_masks(scene, tmp_path, capsys, monkeypatch, "object_mask_sam2", **model)


@pytest.mark.parametrize("model, module, package", [("sam", "segment_anything", "segment_anything"),
                                                    ("sam2", "sam2.build_sam", "sam2")])
def test_a_missing_library_is_the_one_line_hint(scene, tmp_path, capsys, monkeypatch, model, module, package):
    monkeypatch.setitem(sys.modules, module, None)   # import fails as if not installed
    checkpoint = tmp_path / "weights.pth"
    checkpoint.write_bytes(b"never read")
    config = write_config(tmp_path / "sam.json", model=model, checkpoint=str(checkpoint))
    assert prepare_masks.main(["-s", scene, "--sam", config, "--out", "never_written"]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"--sam needs the '{package}' package" in err and "--masks DIR" in err
    assert not os.path.exists(os.path.join(scene, "never_written"))
