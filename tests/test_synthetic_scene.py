"""Synthetic scene maker (bench/synthetic/scene.py, scripts/make_synthetic_scene.py)."""
import importlib.util
import json
import math
import os
import subprocess
import sys
import time

# numpy and cv2 before pycolmap: with pycolmap 4.2.1 imported first, cv2's PNG encoder aborts
# the process ("free(): invalid pointer").
import cv2
import numpy as np
import pycolmap
import pytest
from plyfile import PlyData

from bench.synthetic import degrade, objects, raytrace
from bench.synthetic import scene as synthetic_scene
from utils.graphics_utils import look_at_world_to_camera

CLI_SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts",
                          "make_synthetic_scene.py")


def small_config(**overrides) -> synthetic_scene.SyntheticSceneConfig:
    settings = dict(seed=3, num_views=8, width=64, height=48, num_points=400)
    settings.update(overrides)
    return synthetic_scene.SyntheticSceneConfig(**settings)


def read_ids(path: str) -> np.ndarray:
    ids = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    assert ids is not None and ids.dtype == np.uint8 and ids.ndim == 2, path
    return ids


def read_json(path: str):
    with open(path) as fh:
        return json.load(fh)


def folder_bytes(folder: str) -> dict[str, bytes]:
    files = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as fh:
                files[os.path.relpath(path, folder)] = fh.read()
    return files


def exact_id_maps(folder: str, meta: dict) -> list[np.ndarray]:
    """object_mask of a scene made without degradation (= the exact id maps)."""
    assert all(not meta["mask_degradation"][key] for key in ("swaps", "merges", "blobs"))
    return [read_ids(os.path.join(folder, "object_mask", view["name"] + ".png")) for view in meta["views"]]


@pytest.fixture(scope="module")
def default_scene(tmp_path_factory):
    """The default scene (4 objects, 32 views, 160x120, COLMAP binary), made once."""
    folder = str(tmp_path_factory.mktemp("synthetic") / "scene")
    wall, cpu = time.perf_counter(), time.process_time()
    meta = synthetic_scene.make_synthetic_scene(folder, synthetic_scene.SyntheticSceneConfig())
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"\ndefault synthetic scene: {wall:.2f} s wall, {cpu:.2f} s CPU")
    return folder, meta, cpu


# ----------------------------------------------------------------------------- determinism

def test_same_seed_gives_identical_files(tmp_path):
    config = small_config(degradation=degrade.MaskDegradation(jitter_px=1.5, swap_fraction=0.25, blob_fraction=0.25))
    synthetic_scene.make_synthetic_scene(str(tmp_path / "a"), config)
    synthetic_scene.make_synthetic_scene(str(tmp_path / "b"), config)
    first, second = folder_bytes(str(tmp_path / "a")), folder_bytes(str(tmp_path / "b"))
    assert first.keys() == second.keys()
    assert len([name for name in first if name.startswith("object_mask")]) == 8
    for name in first:
        assert first[name] == second[name], name


def test_different_seeds_give_different_scenes(tmp_path):
    metas = [synthetic_scene.make_synthetic_scene(str(tmp_path / f"seed{seed}"), small_config(seed=seed)) for seed in (0, 1)]
    assert metas[0]["objects"] != metas[1]["objects"]
    images = [cv2.imread(str(tmp_path / f"seed{seed}" / "images" / "frame_00000.png")) for seed in (0, 1)]
    assert np.mean(np.abs(images[0].astype(int) - images[1].astype(int))) > 5.0


# ----------------------------------------------------------------------------- geometry by hand

PLAIN = objects.Texture(kind="stripes", color_name="red", color_a=np.array([0.8, 0.2, 0.2]),
                   color_b=np.array([0.3, 0.1, 0.1]), waves=np.array([[10.0, 0.0, 0.0]]), phases=np.zeros(1))


def one_object_ids(shape: str, half_size, eye, target, yaw: float = 0.0, size: int = 200,
                   focal: float = 300.0) -> np.ndarray:
    obj = objects.SceneObject(object_id=1, shape=shape, center=np.array([0.0, 0.0, half_size[2]]),
                         half_size=np.array(half_size, dtype=float), yaw=yaw, texture=PLAIN)
    world_to_camera = look_at_world_to_camera(np.array(eye, float), np.array(target, float))
    camera = objects.PinholeCamera(width=size, height=size, fx=focal, fy=focal, cx=size / 2, cy=size / 2,
                              world_to_camera=world_to_camera)
    return raytrace.render_view(objects.SceneGeometry(objects=[obj], ground_radius=10.0), camera, supersample=1).ids


@pytest.mark.parametrize("shape, half_size, eye, target, expected_area", [
    # Sphere r = 0.5 on the optical axis at distance 4: a disc of radius f r / sqrt(d^2 - r^2).
    ("sphere", (0.5, 0.5, 0.5), (4.0, 0.0, 0.5), (0.0, 0.0, 0.5),
     math.pi * (300 * 0.5 / math.sqrt(16 - 0.25)) ** 2),
    # Cylinder seen from above along its axis: its top cap (r 0.3, at z 0.8) at distance 3.2.
    ("cylinder", (0.3, 0.3, 0.4), (0.0, 0.0, 4.0), (0.0, 0.0, 0.4), math.pi * (300 * 0.3 / 3.2) ** 2),
])
def test_object_mask_area_matches_projection(shape, half_size, eye, target, expected_area):
    mask = one_object_ids(shape, half_size, eye, target) == 1
    assert abs(np.count_nonzero(mask) / expected_area - 1.0) < 0.02
    # Centred on the principal point (100, 100): pixel index centroid 99.5 (centres at +0.5).
    rows, cols = np.nonzero(mask)
    assert abs(rows.mean() - 99.5) < 0.1 and abs(cols.mean() - 99.5) < 0.1


def test_box_seen_face_on_covers_the_pixel_centres_of_its_front_face():
    # Front face (half side 0.3) at distance 4 - 0.3 hides the sides; it spans 100 +- 300 * 0.3 / 3.7
    # in image coordinates, which holds the pixel centres j + 0.5 of columns 76..123.
    mask = one_object_ids("box", (0.3, 0.3, 0.3), (4.0, 0.0, 0.3), (0.0, 0.0, 0.3)) == 1
    half_side = 300 * 0.3 / 3.7
    inside = np.flatnonzero(np.abs(np.arange(200) + 0.5 - 100) <= half_side)
    assert (inside[0], inside[-1]) == (76, 123)
    expected = np.zeros((200, 200), dtype=bool)
    expected[76:124, 76:124] = True
    np.testing.assert_array_equal(mask, expected)


def test_turned_box_seen_from_turned_camera_looks_the_same():
    yaw = 0.4
    eye = np.array([4.0 * math.cos(yaw), 4.0 * math.sin(yaw), 1.5])
    straight = one_object_ids("box", (0.4, 0.2, 0.3), (4.0, 0.0, 1.5), (0.0, 0.0, 0.3))
    turned = one_object_ids("box", (0.4, 0.2, 0.3), eye, (0.0, 0.0, 0.3), yaw=yaw)
    assert np.count_nonzero(straight) > 1000
    assert np.count_nonzero(straight != turned) <= 4  # rounding at the silhouette only


def test_tilted_cylinder_seen_from_tilted_camera_looks_the_same():
    # Turning the object by `tilt` about its x axis equals turning the camera the other way about
    # the same axis; the eye stays in the y-z plane, so the camera's right vector is x either way.
    tilt, center = 0.3, np.array([0.0, 0.0, 2.0])
    eye = np.array([0.0, -4.0, 2.5])
    c, s = math.cos(tilt), math.sin(tilt)
    offset = eye - center
    turned_eye = center + np.array([0.0, c * offset[1] - s * offset[2], s * offset[1] + c * offset[2]])

    def ids(obj_tilt, camera_eye):
        obj = objects.SceneObject(1, "cylinder", center.copy(), np.array([0.2, 0.2, 0.4]), 0.0, PLAIN, tilt=obj_tilt)
        world_to_camera = look_at_world_to_camera(camera_eye, center)
        camera = objects.PinholeCamera(width=200, height=200, fx=300.0, fy=300.0, cx=100.0, cy=100.0,
                                       world_to_camera=world_to_camera)
        return raytrace.render_view(objects.SceneGeometry([obj], ground_radius=0.01), camera, supersample=1).ids

    standing, tilted = ids(0.0, eye), ids(tilt, turned_eye)
    assert np.count_nonzero(standing == 1) > 1500
    assert np.count_nonzero(standing != tilted) <= 4  # rounding at the silhouette only


def _top_edges(box: objects.SceneObject, samples: int = 2001) -> np.ndarray:
    """Points (4 * samples, 3) along the four top edges of a box, in the world."""
    hx, hy, hz = box.half_size
    t = np.linspace(-1.0, 1.0, samples)
    edges = [np.stack([np.full_like(t, sx * hx), t * hy, np.full_like(t, hz)], 1) for sx in (-1, 1)]
    edges += [np.stack([t * hx, np.full_like(t, sy * hy), np.full_like(t, hz)], 1) for sy in (-1, 1)]
    return np.concatenate(edges) @ objects.rotation_matrix(box).T + box.center


@pytest.mark.parametrize("seed", range(6))
def test_contact_layout_stacks_nests_and_leans(seed):
    scene = objects.build_scene(seed, 7, layout="contact")
    base, stacked, pot, ball, rod = scene.objects[:5]
    assert (base.shape, pot.shape, ball.shape, rod.shape) == ("box", "cylinder", "sphere", "cylinder")
    # Stacked: resting on the box's top, its centre above the top face.
    assert math.isclose(base.center[2], base.half_size[2])
    assert math.isclose(stacked.center[2] - stacked.half_size[2], 2 * base.half_size[2])
    local = (stacked.center - base.center) @ objects.rotation_matrix(base)
    assert np.all(np.abs(local[:2]) < base.half_size[:2])
    # Nested: the ball sunk into the pot's top, meeting it inside the rim.
    top = 2 * pot.half_size[2]
    assert ball.center[2] - ball.half_size[0] < top < ball.center[2]
    np.testing.assert_allclose(ball.center[:2], pot.center[:2])
    assert math.sqrt(ball.half_size[0] ** 2 - (ball.center[2] - top) ** 2) < pot.half_size[0]
    # Leaning rod: thin, its foot's rim on the ground, its axis one radius from a top edge of the box.
    radius, half_length = rod.half_size[0], rod.half_size[2]
    assert radius < 0.05 and 0.4 < rod.tilt < 0.7
    axis = objects.rotation_matrix(rod) @ np.array([0.0, 0.0, 1.0])
    foot = rod.center - half_length * axis
    assert abs(foot[2] - radius * math.sin(rod.tilt)) < 1e-12
    edge = _top_edges(base) - rod.center
    along = edge @ axis
    distance = np.linalg.norm(edge - along[:, None] * axis, axis=1)
    nearest = np.argmin(distance)
    assert abs(distance[nearest] - radius) < 1e-4 and abs(along[nearest]) < half_length
    # ... and never inside the box: points filling the rod, in the box's frame.
    rng = np.random.default_rng(seed)
    u = rng.uniform(-1.0, 1.0, size=(20000, 3))
    local_rod = np.stack([u[:, 0] * radius, u[:, 1] * radius, u[:, 2] * half_length], 1)
    local_rod = local_rod[np.hypot(local_rod[:, 0], local_rod[:, 1]) <= radius]
    in_box = (local_rod @ objects.rotation_matrix(rod).T + rod.center - base.center) @ objects.rotation_matrix(base)
    assert not np.any(np.all(np.abs(in_box) < base.half_size - 1e-9, axis=1))


def test_contact_scene_shows_its_contacts():
    scene = objects.build_scene(4, 6, layout="contact")
    cameras = objects.orbit_cameras(scene, 8, 160, 120, 60.0, 30.0, 10.0)
    pairs, seen = set(), set()
    for camera in cameras:
        ids = raytrace.render_view(scene, camera, supersample=1).ids
        pairs |= set(degrade.adjacent_object_pairs(ids))
        seen |= set(np.unique(ids).tolist())
    assert seen == {0, 1, 2, 3, 4, 5, 6}
    assert {(1, 2), (3, 4), (1, 5)} <= pairs      # stacked, nested, leaning: touching in the images


def test_contact_layout_needs_its_group():
    with pytest.raises(ValueError, match="at least 5 objects"):
        objects.build_scene(0, 4, layout="contact")
    with pytest.raises(ValueError, match="layout must be one of"):
        objects.build_scene(0, 4, layout="pile")


def test_adjacent_object_pairs_by_hand():
    ids = np.array([[1, 1, 2], [0, 3, 3]], dtype=np.uint8)
    assert degrade.adjacent_object_pairs(ids) == [(1, 2), (1, 3), (2, 3)]


# ----------------------------------------------------------------------------- the default scene

def test_default_scene_layout_ids_and_prompts(default_scene):
    folder, meta, cpu_seconds = default_scene
    names = [view["name"] for view in meta["views"]]
    assert len(names) == 32 and names[0] == "frame_00000"
    assert sorted(os.listdir(os.path.join(folder, "images"))) == [n + ".png" for n in names]
    assert sorted(os.listdir(os.path.join(folder, "sparse", "0"))) == ["cameras.bin", "images.bin", "points3D.bin"]
    ids = np.stack(exact_id_maps(folder, meta))
    assert ids.shape == (32, 120, 160)
    assert set(np.unique(ids)) == {0, 1, 2, 3, 4}
    prompts = read_json(os.path.join(folder, "prompts.json"))
    assert sorted(sum(prompts.values(), [])) == [1, 2, 3, 4]
    for prompt, (object_id,) in prompts.items():
        color, texture, shape = prompt.split()
        assert color in objects.PALETTE and texture in objects.TEXTURE_ADJECTIVES.values() and shape in objects.SHAPES
        assert np.count_nonzero(ids == object_id) > 0.005 * ids.size / 4  # well visible overall
    assert {o["shape"] for o in meta["objects"]} == set(objects.SHAPES)
    assert cpu_seconds < 15.0


def test_default_objects_touch_and_occlude_each_other():
    scene = objects.build_scene(0, 4)
    cameras = objects.orbit_cameras(scene, 32, 160, 120, 60.0, 30.0, 10.0)
    hidden = {obj.object_id: 0 for obj in scene.objects}
    for camera in cameras[::8]:
        ids = raytrace.render_view(scene, camera, supersample=1).ids
        assert len(degrade.adjacent_object_pairs(ids)) >= 2
        for obj in scene.objects:
            alone = raytrace.render_view(objects.SceneGeometry([obj], scene.ground_radius), camera, supersample=1).ids
            assert not np.any((ids == obj.object_id) & (alone != obj.object_id))
            hidden[obj.object_id] += np.count_nonzero((alone == obj.object_id) & (ids != obj.object_id))
    assert all(count > 50 for count in hidden.values()), hidden


def test_test_masks_every_eighth_view_and_exact(default_scene):
    folder, meta, _ = default_scene
    ids = exact_id_maps(folder, meta)
    prompts = read_json(os.path.join(folder, "prompts.json"))
    test_dir = os.path.join(folder, "test_mask")
    assert sorted(os.listdir(test_dir)) == ["frame_00000", "frame_00008", "frame_00016", "frame_00024"]
    assert meta["test_views"] == sorted(os.listdir(test_dir))
    for view in os.listdir(test_dir):
        view_ids = ids[int(view.split("_")[1])]
        written = {name[:-4] for name in os.listdir(os.path.join(test_dir, view))}
        visible = {p for p, (i,) in prompts.items() if np.count_nonzero(view_ids == i) >= 1e-3 * view_ids.size}
        assert written == visible and written
        for prompt in written:
            mask = read_ids(os.path.join(test_dir, view, prompt + ".png"))
            assert set(np.unique(mask)) <= {0, 255}
            np.testing.assert_array_equal(mask == 255, view_ids == prompts[prompt][0])


def check_colmap_model(folder: str, meta: dict) -> None:
    """pycolmap reads the model back with the written poses and intrinsics; points project onto
    their observations; the top of the tallest object projects onto its id in every view."""
    reconstruction = pycolmap.Reconstruction(os.path.join(folder, "sparse", "0"))
    camera = reconstruction.cameras[1]
    assert camera.model_name == "PINHOLE" and (camera.width, camera.height) == (meta["camera"]["width"],
                                                                                  meta["camera"]["height"])
    np.testing.assert_allclose(camera.params, [meta["camera"][k] for k in ("fx", "fy", "cx", "cy")], rtol=1e-12)
    assert reconstruction.num_images() == len(meta["views"])
    ids = exact_id_maps(folder, meta)
    tallest = max(meta["objects"], key=lambda o: o["center"][2] + o["half_size"][2])
    top = np.array(tallest["center"]) + np.array([0.0, 0.0, tallest["half_size"][2] - 1e-3])
    for view, meta_view in enumerate(meta["views"]):
        image = reconstruction.images[view + 1]
        assert image.name == meta_view["name"] + ".png"
        np.testing.assert_allclose(image.cam_from_world().matrix(),
                                   np.array(meta_view["world_to_camera"])[:3], atol=1e-12)
        x, y = image.project_point(top)
        assert ids[view][int(y), int(x)] == tallest["id"]
    assert reconstruction.num_points3D() == meta["num_points"]
    for point in reconstruction.points3D.values():
        (element,) = point.track.elements
        image = reconstruction.images[element.image_id]
        observed = image.points2D[element.point2D_idx].xy
        np.testing.assert_allclose(image.project_point(point.xyz), observed, atol=1e-6)


def test_colmap_binary_reads_back_with_pycolmap(default_scene):
    folder, meta, _ = default_scene
    check_colmap_model(folder, meta)


def test_colmap_text_reads_back_with_pycolmap(tmp_path):
    folder = str(tmp_path / "scene")
    meta = synthetic_scene.make_synthetic_scene(folder, small_config(colmap_format="text"))
    assert sorted(os.listdir(os.path.join(folder, "sparse", "0"))) == ["cameras.txt", "images.txt", "points3D.txt"]
    check_colmap_model(folder, meta)


def test_point_cloud_lies_on_visible_surfaces(default_scene):
    folder, meta, _ = default_scene
    reconstruction = pycolmap.Reconstruction(os.path.join(folder, "sparse", "0"))
    xyz = np.array([p.xyz for p in reconstruction.points3D.values()])
    assert 2000 <= len(xyz) <= 5000
    # Every point is on the ground (z = 0) or within the objects' bounding sphere.
    center, radius = objects.objects_bounding_sphere(objects.build_scene(0, 4).objects)
    on_ground = np.abs(xyz[:, 2]) < 1e-9
    assert np.all(np.linalg.norm(xyz[~on_ground] - center, axis=1) <= radius + 1e-9)
    assert 0.1 < np.mean(~on_ground) < 0.9


def test_transforms_format(tmp_path):
    folder = str(tmp_path / "scene")
    meta = synthetic_scene.make_synthetic_scene(folder, small_config(output_format="transforms"))
    assert not os.path.exists(os.path.join(folder, "sparse"))
    transforms = read_json(os.path.join(folder, "transforms.json"))
    camera = meta["camera"]
    assert (transforms["fl_x"], transforms["fl_y"], transforms["cx"], transforms["cy"], transforms["w"],
            transforms["h"]) == tuple(camera[k] for k in ("fx", "fy", "cx", "cy", "width", "height"))
    assert transforms["camera_angle_x"] == pytest.approx(2 * math.atan(camera["width"] / (2 * camera["fx"])))
    for frame, view in zip(transforms["frames"], meta["views"]):
        assert frame["file_path"] == "./images/" + view["name"]
        assert os.path.isfile(os.path.join(folder, frame["file_path"] + ".png"))
        c2w = np.array(frame["transform_matrix"])
        c2w[:3, 1:3] *= -1  # OpenGL -> OpenCV, as 3DGS's reader does
        np.testing.assert_allclose(np.linalg.inv(c2w), view["world_to_camera"], atol=1e-12)
    split = [[f["file_path"] for f in read_json(os.path.join(folder, f"transforms_{s}.json"))["frames"]]
             for s in ("train", "test")]
    assert split[1] == ["./images/frame_00000"] and len(split[0]) == 7
    vertices = PlyData.read(os.path.join(folder, "points3d.ply"))["vertex"]
    assert vertices.count == meta["num_points"] == 400
    assert {"x", "y", "z", "nx", "ny", "nz", "red", "green", "blue"} <= {p.name for p in vertices.properties}
    normals = np.stack([vertices[k] for k in ("nx", "ny", "nz")], axis=1)
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-5)


# ----------------------------------------------------------------------------- degradation

def distance_to_other_id(ids: np.ndarray) -> np.ndarray:
    """Euclidean distance (H, W) from each pixel centre to the nearest pixel of another id."""
    distance = np.full(ids.shape, np.inf, dtype=np.float32)
    for value in np.unique(ids):
        region = ids == value
        if region.all():
            continue
        inside = cv2.distanceTransform(region.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        distance[region] = inside[region]
    return distance


def test_jitter_changes_only_pixels_near_boundaries(default_scene):
    folder, meta, _ = default_scene
    rng = np.random.default_rng(0)
    changed_total, near_total = 0, 0
    for ids in exact_id_maps(folder, meta)[:8]:
        jittered = degrade.jitter_boundaries(ids, 2.0, rng)
        distance = distance_to_other_id(ids)
        changed = jittered != ids
        assert distance[changed].max() <= 2.0 + math.sqrt(0.5) + 1e-6
        changed_total += np.count_nonzero(changed)
        near_total += np.count_nonzero(distance <= 1.0)
    # It is not a no-op: a good part of the one-pixel boundary band moves.
    assert changed_total > 0.3 * near_total


def test_jittered_scene_differs_from_exact_only_at_boundaries(tmp_path):
    exact = synthetic_scene.make_synthetic_scene(str(tmp_path / "exact"), small_config())
    jittered = small_config(degradation=degrade.MaskDegradation(jitter_px=1.0))
    synthetic_scene.make_synthetic_scene(str(tmp_path / "jittered"), jittered)
    for view in exact["views"]:
        name = view["name"] + ".png"
        image = (tmp_path / "exact" / "images" / name).read_bytes()
        assert (tmp_path / "jittered" / "images" / name).read_bytes() == image
        ids = read_ids(str(tmp_path / "exact" / "object_mask" / name))
        changed = read_ids(str(tmp_path / "jittered" / "object_mask" / name)) != ids
        assert np.all(distance_to_other_id(ids)[changed] <= 1.0 + math.sqrt(0.5) + 1e-6)


def test_swap_and_merge_fractions_hold(default_scene):
    folder, meta, _ = default_scene
    exact = exact_id_maps(folder, meta)
    names = [view["name"] for view in meta["views"]]
    degradation = degrade.MaskDegradation(swap_fraction=0.25, merge_fraction=0.125)
    degraded, record = degrade.degrade_masks(exact, names, [1, 2, 3, 4], degradation, np.random.default_rng(5))
    assert len(record["swaps"]) == 8 and len(record["merges"]) == 4 and not record["blobs"]
    swaps = {s["view"]: s["ids"] for s in record["swaps"]}
    merges = {m["view"]: (m["from"], m["into"]) for m in record["merges"]}
    assert not swaps.keys() & merges.keys()
    for name, before, after in zip(names, exact, degraded):
        expected = before.copy()
        if name in swaps:
            a, b = swaps[name]
            expected[before == a], expected[before == b] = b, a
            assert tuple(sorted((a, b))) in degrade.adjacent_object_pairs(before)
        if name in merges:
            lost, kept = merges[name]
            expected[before == lost] = kept
            assert tuple(sorted((lost, kept))) in degrade.adjacent_object_pairs(before)
        np.testing.assert_array_equal(after, expected)
        assert (name in swaps or name in merges) == bool(np.any(after != before))


def test_blobs_are_small_and_in_the_recorded_fraction(default_scene):
    folder, meta, _ = default_scene
    exact = exact_id_maps(folder, meta)
    names = [view["name"] for view in meta["views"]]
    degraded, record = degrade.degrade_masks(exact, names, [1, 2, 3, 4], degrade.MaskDegradation(blob_fraction=0.25),
                                        np.random.default_rng(2))
    blob_views = {b["view"] for b in record["blobs"]}
    assert len(blob_views) == 8
    for name, before, after in zip(names, exact, degraded):
        changed = after != before
        assert np.count_nonzero(changed) <= 3 * math.pi * 5 ** 2
        assert set(np.unique(after[changed])) <= {1, 2, 3, 4}
        if name not in blob_views:
            assert not changed.any()


def test_too_many_swaps_and_merges_are_refused(default_scene):
    folder, meta, _ = default_scene
    names = [view["name"] for view in meta["views"]]
    with pytest.raises(ValueError, match="swaps"):
        degrade.degrade_masks(exact_id_maps(folder, meta), names, [1, 2, 3, 4],
                         degrade.MaskDegradation(swap_fraction=0.75, merge_fraction=0.5), np.random.default_rng(0))


# ----------------------------------------------------------------------------- scene editing, folders, CLI

def test_without_object_renders_the_same_views_without_it(tmp_path):
    full = synthetic_scene.make_synthetic_scene(str(tmp_path / "full"), small_config())
    edited = synthetic_scene.make_synthetic_scene(str(tmp_path / "edited"), small_config(without_object=2))
    assert edited["removed_object"] == 2 and edited["views"] == full["views"]
    assert [o["id"] for o in edited["objects"]] == [1, 3, 4]
    assert sorted(sum(read_json(str(tmp_path / "edited" / "prompts.json")).values(), [])) == [1, 3, 4]
    removed_pixels = 0
    for view in full["views"]:
        name = view["name"] + ".png"
        before = read_ids(str(tmp_path / "full" / "object_mask" / name))
        after = read_ids(str(tmp_path / "edited" / "object_mask" / name))
        assert not np.any(after == 2)
        # Removing an object only uncovers what was behind it.
        np.testing.assert_array_equal(after[before != 2], before[before != 2])
        removed_pixels += np.count_nonzero(before == 2)
    assert removed_pixels > 0


def test_non_empty_folder_is_refused_and_force_replaces_it(tmp_path):
    out_dir = tmp_path / "scene"
    out_dir.mkdir()
    (out_dir / "old.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not empty"):
        synthetic_scene.make_synthetic_scene(str(out_dir), small_config())
    assert (out_dir / "old.txt").read_text() == "keep me"
    synthetic_scene.make_synthetic_scene(str(out_dir), small_config(), force=True)
    assert not (out_dir / "old.txt").exists() and (out_dir / "scene_meta.json").is_file()
    assert sorted(os.listdir(tmp_path)) == ["scene"]  # no build or old folders left


def test_failed_run_leaves_no_scene(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(synthetic_scene, "write_colmap_model", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        synthetic_scene.make_synthetic_scene(str(tmp_path / "scene"), small_config())
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("overrides, message", [
    (dict(num_objects=9), "num_objects"),
    (dict(without_object=5), "without_object"),
    (dict(colmap_format="json"), "colmap_format"),
    (dict(layout="contact", num_objects=4), "contact layout needs"),
    (dict(degradation=degrade.MaskDegradation(swap_fraction=1.5)), "fractions"),
])
def test_bad_configuration_is_refused(tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        synthetic_scene.make_synthetic_scene(str(tmp_path / "scene"), small_config(**overrides))
    assert os.listdir(tmp_path) == []


def load_cli():
    spec = importlib.util.spec_from_file_location("make_synthetic_scene_cli", CLI_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_command_line(tmp_path, capsys):
    args = [str(tmp_path / "scene"), "--num_views", "8", "--width", "64", "--height", "48",
            "--colmap_format", "text", "--seed", "7", "--mask_jitter", "1", "--swap_fraction", "0.25"]
    # One real run as a program (its own sys.path set-up); the refusal runs in-process.
    done = subprocess.run([sys.executable, CLI_SCRIPT, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    meta = read_json(str(tmp_path / "scene" / "scene_meta.json"))
    assert meta["seed"] == 7 and len(meta["views"]) == 8 and len(meta["mask_degradation"]["swaps"]) == 2
    assert meta["config"]["degradation"]["jitter_px"] == 1.0
    assert (tmp_path / "scene" / "sparse" / "0" / "images.txt").is_file()
    assert load_cli().main(args) == 2
    assert "not empty" in capsys.readouterr().err
