"""The viewer's pure parts: browser camera <-> 3DGS camera, display-mode composition, picking
and the prompts.json it writes (no server, no training)."""
import json
import math
import socket
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from apps.render_export import load_prompt_ids
from apps.viewer import camera as viewer_camera_module
from apps.viewer import modes, picking
from apps.viewer.server import ViewerPortBusy, check_port_free, find_view
from gaussian_renderer import render
from scene.cameras import Camera
from tests.test_gaussian_model import make_model
from utils.graphics_utils import look_at_world_to_camera
from utils.visualization import FeaturePCA, id_palette

PIPE = SimpleNamespace(convert_SHs_python=False, compute_cov3D_python=False, debug=False, backend="auto")


def scene_camera(eye, width=40, height=30, fov_y=0.8) -> Camera:
    """A 3DGS camera at `eye` looking at the origin (R is the transposed world-to-camera rotation)."""
    w2c = look_at_world_to_camera(np.asarray(eye, dtype=np.float64), np.zeros(3))
    fov_x = viewer_camera_module.horizontal_fov(fov_y, width / height)
    return Camera(0, w2c[:3, :3].T, w2c[:3, 3], fov_x, fov_y, torch.zeros(3, height, width), None, "cam")


# ----------------------------------------------------------------------------- cameras

@pytest.mark.parametrize("eye", [(0.5, -3.5, 1.5), (2.0, 1.0, -2.5), (0.1, 0.2, 4.0)])
def test_browser_pose_of_a_camera_renders_that_camera(eye):
    camera = scene_camera(eye)
    wxyz, position = viewer_camera_module.camera_pose(camera)
    rebuilt = viewer_camera_module.viewer_camera(wxyz, position, camera.FoVy, camera.image_width,
                                                 camera.image_height)
    torch.testing.assert_close(rebuilt.world_view_transform, camera.world_view_transform, atol=1e-6, rtol=0)
    torch.testing.assert_close(rebuilt.full_proj_transform, camera.full_proj_transform, atol=1e-6, rtol=0)
    assert rebuilt.FoVx == pytest.approx(camera.FoVx, abs=1e-12)
    model = make_model(n=40, sh_degree=0, num_objects=4, seed=3)
    before = render(camera, model, PIPE, torch.zeros(3))["render"]
    after = render(rebuilt, model, PIPE, torch.zeros(3))["render"]
    assert before.abs().sum() > 1.0   # the Gaussians are in view
    torch.testing.assert_close(after, before, atol=1e-5, rtol=0)


def test_viser_opencv_pose_by_hand():
    # a camera at (0, 0, -5) with identity camera-to-world rotation looks along +z (OpenCV):
    # the world origin is straight ahead, 5 units deep
    camera = viewer_camera_module.viewer_camera(np.array([1.0, 0, 0, 0]), np.array([0.0, 0, -5]), 1.0, 20, 10)
    origin_view = torch.tensor([0.0, 0, 0, 1]) @ camera.world_view_transform
    torch.testing.assert_close(origin_view[:3], torch.tensor([0.0, 0.0, 5.0]))
    # turned 90 degrees about y (camera x -> world -z), the world +x axis is straight ahead
    turn = Rotation.from_rotvec([0, math.pi / 2, 0]).as_quat()   # x, y, z, w
    camera = viewer_camera_module.viewer_camera(np.array([turn[3], *turn[:3]]), np.zeros(3), 1.0, 20, 10)
    point_view = torch.tensor([2.0, 0, 0, 1]) @ camera.world_view_transform
    torch.testing.assert_close(point_view[:3], torch.tensor([0.0, 0.0, 2.0]), atol=1e-6, rtol=0)
    assert camera.FoVx == pytest.approx(2 * math.atan(math.tan(0.5) * 2.0))


def test_render_size_follows_the_canvas_aspect():
    assert viewer_camera_module.render_size(16 / 9, 360) == (640, 360)
    assert viewer_camera_module.render_size(0.5, 2) == (8, 8)   # never below MIN_RENDER_SIDE
    with pytest.raises(ValueError, match="positive"):
        viewer_camera_module.render_size(0.0, 100)


def test_scene_up_is_the_mean_camera_up():
    cameras = [scene_camera(eye) for eye in [(3, 0, 1), (0, 3, 1), (-3, 0, 1)]]
    up = viewer_camera_module.scene_up_direction(cameras)
    assert up[2] > 0.9 and np.linalg.norm(up) == pytest.approx(1.0)   # look_at's up is +z


# ----------------------------------------------------------------------------- modes

def test_id_boundaries_mark_both_sides_of_each_edge():
    ids = np.array([[1, 1, 2],
                    [1, 1, 2],
                    [3, 3, 3]])
    expected = np.array([[False, True, True],
                         [True, True, True],
                         [True, True, True]])
    assert np.array_equal(modes.id_boundaries(ids), expected)
    assert not modes.id_boundaries(np.zeros((4, 5), int)).any()


def test_blend_ids_mixes_palette_colours_and_outlines():
    rgb = np.full((4, 6, 3), 100, np.uint8)
    ids = np.zeros((4, 6), np.int64)
    ids[:, 3:] = 5
    palette = id_palette()
    image = modes.blend_ids(rgb, ids, opacity=0.25, highlight=5)
    interior_left, interior_right = image[1, 0], image[1, 5]
    np.testing.assert_array_equal(interior_left, np.round(0.75 * 100 + 0.25 * palette[0].astype(float)))
    np.testing.assert_array_equal(interior_right, np.round(0.75 * 100 + 0.25 * palette[5].astype(float)))
    np.testing.assert_array_equal(image[1, 2], modes.OUTLINE_COLOUR)   # left of the id edge
    np.testing.assert_array_equal(image[1, 3], modes.HIGHLIGHT_COLOUR)  # id 5's own boundary
    np.testing.assert_array_equal(modes.blend_ids(rgb, ids, opacity=0.0)[1, 0], rgb[1, 0])
    with pytest.raises(ValueError, match="opacity"):
        modes.blend_ids(rgb, ids, opacity=1.5)


def test_compose_per_mode():
    rgb = np.random.default_rng(0).integers(0, 255, (3, 4, 3), dtype=np.uint8)
    ids = np.array([[0, 0, 1, 1]] * 3)
    features = torch.randn(4, 3, 4, generator=torch.Generator().manual_seed(0))
    pca = FeaturePCA(torch.randn(50, 4, generator=torch.Generator().manual_seed(1)))
    layers = modes.FrameLayers(rgb, ids, features)
    for mode in (modes.MODE_RGB, modes.MODE_ISOLATE, modes.MODE_REMOVE):
        assert modes.compose(mode, layers, pca) is rgb
    np.testing.assert_array_equal(modes.compose(modes.MODE_FEATURES, layers, pca), pca.colorize(features))
    np.testing.assert_array_equal(modes.compose(modes.MODE_IDS, layers, pca, 0.5, picked=1),
                                  modes.blend_ids(rgb, ids, 0.5, highlight=1))
    with pytest.raises(ValueError, match="unknown display mode"):
        modes.compose("sepia", layers, pca)


def test_shown_gaussians_per_mode():
    group = torch.tensor([True, False, True])
    assert torch.equal(modes.shown_gaussians(modes.MODE_ISOLATE, group), group)
    assert torch.equal(modes.shown_gaussians(modes.MODE_REMOVE, group), ~group)
    assert modes.shown_gaussians(modes.MODE_IDS, group) is None
    assert modes.shown_gaussians(modes.MODE_ISOLATE, None) is None   # nothing picked: all


def test_ground_truth_strip_layout():
    panel = np.zeros((5, 7, 3), np.uint8)
    ids = np.ones((5, 7), np.int64)
    assert modes.ground_truth_strip(panel, panel, ids, ids).shape == (5, 4 * 7 + 3 * 2, 3)
    assert modes.ground_truth_strip(panel, panel, None, ids).shape == (5, 3 * 7 + 2 * 2, 3)


# ----------------------------------------------------------------------------- picking

def test_pixel_at_maps_canvas_fractions_to_pixels():
    assert picking.pixel_at((0.0, 0.0), (48, 64)) == (0, 0)
    assert picking.pixel_at((1.0, 1.0), (48, 64)) == (47, 63)            # the far edge is clamped
    assert picking.pixel_at((0.5, 0.25), (48, 64)) == (12, 32)
    assert picking.pixel_at((31.9 / 64, 12.1 / 48), (48, 64)) == (12, 31)
    ids = np.zeros((48, 64), np.int64)
    ids[12, 31] = 7
    assert picking.pick_id(ids, ((31 + 0.5) / 64, (12 + 0.5) / 48)) == 7


def test_object_stats_and_description():
    ids = np.array([[2, 2, 0, 0]] * 2)
    picked = picking.object_stats(ids, torch.tensor([True, False, True, True]), 2)
    assert picked == picking.PickedObject(2, 0.5, 3)
    assert picked.describe(["mug"]) == "Picked id 2 (mug): 50.0 % of the pixels, 3 Gaussians"


def test_named_selections_write_the_prompts_file_render_reads(tmp_path):
    path = tmp_path / "prompts.json"
    selections = picking.NamedSelections(str(path), num_classes=8)
    assert selections.describe() == "No named selections yet."
    selections.add("  red mug ", 3)
    selections.add("red mug", 1)
    selections.add("red mug", 3)       # once only
    selections.add("table", 5)
    assert json.loads(path.read_text()) == {"red mug": [1, 3], "table": [5]}
    assert load_prompt_ids(str(path), 8) == {"red mug": [1, 3], "table": [5]}   # render.py --prompt_ids
    assert selections.names_of(3) == ["red mug"]
    selections.forget("table")
    again = picking.NamedSelections(str(path), num_classes=8)   # a new session continues
    assert again.prompts == {"red mug": [1, 3]}
    assert not list(tmp_path.glob(".*tmp*"))                    # written atomically, nothing left over
    with pytest.raises(ValueError, match="needs a name"):
        again.add("   ", 2)
    with pytest.raises(ValueError, match="outside 0..7"):
        again.add("lamp", 8)
    with pytest.raises(ValueError, match="no selection is named"):
        again.forget("lamp")


def test_a_broken_prompts_file_is_reported_with_its_path(tmp_path):
    path = tmp_path / "prompts.json"
    path.write_text('{"mug": []}')
    with pytest.raises(ValueError, match="prompts.json: prompt 'mug'"):
        picking.NamedSelections(str(path), num_classes=8)


# ----------------------------------------------------------------------------- server helpers

def test_busy_port_is_a_clear_error():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(ViewerPortBusy, match=f"viewer port {port} on 127.0.0.1 is busy.*--port"):
            check_port_free("127.0.0.1", port)
    check_port_free("127.0.0.1", port)   # free again once closed


def test_find_view_by_label_or_image_name():
    views = [SimpleNamespace(label="test/a", split="test", camera=SimpleNamespace(image_name="a")),
             SimpleNamespace(label="train/b", split="train", camera=SimpleNamespace(image_name="b"))]
    assert find_view(views, "") is views[1]          # the first training view
    assert find_view(views[:1], "") is views[0]      # no training view: the first view
    assert find_view(views, "b") is views[1]
    assert find_view(views, "train/b") is views[1]
    assert find_view([], "") is None
    with pytest.raises(ValueError, match="no view named 'c'"):
        find_view(views, "c")
