"""convert.py --video / prep.video: frames from a clip (even spread, blur replaced), then SfM on them."""
import os

import cv2  # before pycolmap (through convert / prep.sfm): the other order breaks cv2's PNG writer
import numpy as np
import pycolmap
import pytest

import convert
from bench.synthetic.scene import SyntheticSceneConfig, make_synthetic_scene
from bench.video_clip import ClipRecipe, clip_from_photos, write_clip
from prep.video import (VideoOptions, choose_frames, extract_frames, frames_of, sharpness, windows)
from utils.errors import DataError

SIZE = (160, 120)   # width, height of the test clips
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FERN = os.path.join(REPO, "..", "shared", "data", "llff_fern_8", "images")


def textured(seed: int) -> np.ndarray:
    """A sharp frame: blocks of random grey levels, 8-pixel squares (sharp edges survive mp4v)."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, size=(SIZE[1] // 8, SIZE[0] // 8), dtype=np.uint8)
    grey = cv2.resize(blocks, SIZE, interpolation=cv2.INTER_NEAREST)
    return cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)


def blurred(frame: np.ndarray, sigma: float = 3.0) -> np.ndarray:
    return cv2.GaussianBlur(frame, (0, 0), sigma)


def quiet(_line: str) -> None:
    pass


def test_windows_cover_the_clip_evenly():
    assert windows(10, 5) == [range(0, 2), range(2, 4), range(4, 6), range(6, 8), range(8, 10)]
    assert [len(w) for w in windows(100, 3)] == [33, 34, 33]
    assert windows(4, 10) == [range(0, 1), range(1, 2), range(2, 3), range(3, 4)]   # shorter clip: every frame


def test_blurry_centre_frames_are_replaced_by_the_sharpest_of_their_window():
    scores = np.array([100, 90, 80,    # centre 90 sharp enough: kept
                       100, 10, 80,    # centre 10 < 0.5 * 100: the sharpest (frame 3) instead
                       5, 6, 4,        # nothing above min_sharpness 15: window dropped
                       30, 50, 60], dtype=float)
    selection = choose_frames(scores, VideoOptions(num_frames=4, blur_ratio=0.5, min_sharpness=15))
    assert selection.chosen == [1, 3, 10]
    assert selection.replaced == 1 and selection.dropped_windows == 1 and selection.num_clip_frames == 12


def test_sharpness_orders_sharp_above_blurred_at_any_resolution():
    frame = textured(0)
    assert sharpness(frame) > 20 * sharpness(blurred(frame))
    large = cv2.resize(frame, (SIZE[0] * 8, SIZE[1] * 8), interpolation=cv2.INTER_NEAREST)
    # measured at <= 640 pixels on the longer side: an 8x larger copy scores within a factor of 2
    assert 0.5 < sharpness(large) / sharpness(cv2.resize(large, (640, 480), interpolation=cv2.INTER_AREA)) < 2.0


def test_frames_are_spread_evenly_and_named_by_frame_number(tmp_path):
    # 12 distinct sharp frames, each followed by two blurred copies: windows of 3, centre blurred.
    frames = []
    for k in range(12):
        frames += [textured(k), blurred(textured(k)), blurred(textured(k), 1.5)]
    clip = write_clip(str(tmp_path / "clip.mp4"), frames)
    selection = extract_frames(clip, str(tmp_path / "scene" / "input"), VideoOptions(num_frames=12), log=quiet)
    assert selection.num_clip_frames == 36
    assert selection.chosen == [3 * k for k in range(12)] and selection.replaced == 12
    names = sorted(os.listdir(tmp_path / "scene" / "input"))
    assert names == [f"frame_{3 * k:05d}.jpg" for k in range(12)]
    written = cv2.imread(str(tmp_path / "scene" / "input" / names[5]))
    assert written.shape == (SIZE[1], SIZE[0], 3)
    assert np.abs(written.astype(float) - textured(5)).mean() < 12   # the sharp frame 15, not a blurred one
    assert os.listdir(tmp_path / "scene") == ["input"]   # no work folder left


def test_a_clip_shorter_than_asked_gives_every_frame(tmp_path):
    clip = write_clip(str(tmp_path / "short.mp4"), [textured(k) for k in range(5)])
    selection = extract_frames(clip, str(tmp_path / "input"), VideoOptions(num_frames=50), log=quiet)
    assert selection.chosen == [0, 1, 2, 3, 4]
    assert len(os.listdir(tmp_path / "input")) == 5


def test_an_all_blurry_clip_is_refused_and_writes_nothing(tmp_path, capsys):
    clip = write_clip(str(tmp_path / "blurry.mp4"), [blurred(textured(k), 6.0) for k in range(20)])
    with pytest.raises(DataError, match="all of its 20 frames are blurry"):
        extract_frames(clip, str(tmp_path / "scene" / "input"), VideoOptions(num_frames=10), log=quiet)
    (tmp_path / "scene").mkdir(exist_ok=True)
    assert convert.main(["-s", str(tmp_path / "scene"), "--video", clip]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("convert.py: error: ") and "blurry.mp4" in err
    assert os.listdir(tmp_path / "scene") == []


def test_a_clip_opencv_cannot_open_is_one_line_naming_it(tmp_path, capsys):
    clip = tmp_path / "broken.mp4"
    clip.write_bytes(b"this is not a video" * 100)
    scene = tmp_path / "scene"
    scene.mkdir()
    assert convert.main(["-s", str(scene), "--video", str(clip)]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "broken.mp4: OpenCV cannot open it as a video" in err
    assert convert.main(["-s", str(scene), "--video", str(tmp_path / "missing.mp4")]) == 1
    assert "missing.mp4: video file does not exist" in capsys.readouterr().err
    assert os.listdir(scene) == []


def test_existing_input_is_never_overwritten(tmp_path):
    clip = write_clip(str(tmp_path / "clip.mp4"), [textured(k) for k in range(6)])
    (tmp_path / "input").mkdir()
    (tmp_path / "input" / "mine.jpg").write_bytes(b"a photo of the user's")
    with pytest.raises(FileExistsError, match="already exists"):
        extract_frames(clip, str(tmp_path / "input"), VideoOptions(num_frames=6), log=quiet)
    assert os.listdir(tmp_path / "input") == ["mine.jpg"]


def test_failed_sfm_removes_the_frames_it_extracted(tmp_path, capsys):
    # Unrelated sharp frames: extraction succeeds, nothing registers.
    clip = write_clip(str(tmp_path / "unrelated.mp4"), [textured(100 + k) for k in range(6)])
    scene = tmp_path / "scene"
    scene.mkdir()
    assert convert.main(["-s", str(scene), "--video", clip, "--num_frames", "6", "--threads", "2"]) == 1
    assert "registered" in capsys.readouterr().err
    assert os.listdir(scene) == []


def test_video_of_an_orbit_registers_every_frame(tmp_path):
    truth = str(tmp_path / "truth")
    make_synthetic_scene(truth, SyntheticSceneConfig(num_views=24, width=SIZE[0], height=SIZE[1], supersample=1,
                                                     num_points=100, ground_texture="noise"))
    views = sorted(os.listdir(os.path.join(truth, "images")))   # the orbit, in order
    frames = []
    for name in views:   # each view as a sharp frame followed by a blurred one (windows of 2, centre blurred)
        image = cv2.imread(os.path.join(truth, "images", name))
        frames += [image, blurred(image, 2.0)]
    clip = write_clip(str(tmp_path / "orbit.mp4"), frames)
    scene = str(tmp_path / "scene")
    os.makedirs(scene)
    assert convert.main(["-s", scene, "--video", clip, "--num_frames", "24", "--camera", "SIMPLE_PINHOLE",
                         "--threads", "2"]) == 0
    assert sorted(os.listdir(os.path.join(scene, "input"))) == [f"frame_{2 * k:05d}.jpg" for k in range(24)]
    incremental = pycolmap.Reconstruction(os.path.join(scene, "sparse", "0"))
    assert incremental.num_reg_images() == 24
    assert incremental.compute_mean_reprojection_error() < 1.0


def test_frames_of_reads_every_frame_in_order(tmp_path):
    frames = [np.full((SIZE[1], SIZE[0], 3), 20 * k, np.uint8) for k in range(8)]
    clip = write_clip(str(tmp_path / "grey.avi"), frames, fourcc="MJPG")
    levels = [int(round(frame.mean())) for frame in frames_of(clip)]
    assert len(levels) == 8 and all(abs(a - 20 * k) <= 3 for k, a in enumerate(levels))


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir(FERN), reason=f"the LLFF fern photos are not at {FERN}")
def test_a_clip_of_real_photos_registers_at_least_90_percent_of_its_frames(tmp_path):
    # 20 photos in capture order, 4 drifting crops each, every 4th frame motion-blurred: 80 frames.
    clip = str(tmp_path / "fern.mp4")
    assert clip_from_photos(FERN, clip, ClipRecipe(frames_per_photo=4)) == 80
    scene = tmp_path / "scene"
    scene.mkdir()
    assert convert.main(["-s", str(scene), "--video", clip, "--num_frames", "40", "--threads", "2"]) == 0
    extracted = os.listdir(scene / "input")
    assert len(extracted) == 40
    reconstruction = pycolmap.Reconstruction(str(scene / "sparse" / "0"))
    assert reconstruction.num_reg_images() >= 0.9 * len(extracted)
    assert reconstruction.compute_mean_reprojection_error() < 1.0
