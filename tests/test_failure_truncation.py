"""Failure handling, case 6: nothing is truncated silently: ids >= 256 keep 16 bits, views without
ground truth are refused or counted, prompt ids no Gaussian predicts are warned about."""
import json
import os

import cv2
import numpy as np
import pytest
import torch

import metrics
import render
import train
from apps.render_export import export_split, id_map_dtype
from tests.failure_helpers import TINY_FLAGS, make_trainer


def test_id_maps_are_16_bit_when_ids_reach_256(tiny_scene, tmp_path):
    trainer = make_trainer(tiny_scene, tmp_path / "m", "--num_classes", "300")
    with torch.no_grad():   # make id 299 win everywhere
        trainer.classifier.bias[:] = 0.0
        trainer.classifier.bias[299] = 1e3
    cameras = trainer.scene.getTestCameras()
    out_dir = str(tmp_path / "out")
    export_split(out_dir, cameras, trainer.gaussians, trainer.classifier, trainer.pipe,
                 trainer.background, quiet=True)
    written = cv2.imread(os.path.join(out_dir, "objects_pred_id", f"{cameras[0].image_name}.png"),
                         cv2.IMREAD_UNCHANGED)
    assert written.dtype == np.uint16 and np.all(written == 299)   # 8 bits would store 43


def test_id_map_type_follows_num_classes():
    assert id_map_dtype(256) is np.uint8 and id_map_dtype(257) is np.uint16
    with pytest.raises(ValueError, match="at most 16-bit"):
        id_map_dtype(70000)


def write_views(folder, renders, gts):
    for sub, names in (("renders", renders), ("gt", gts)):
        os.makedirs(folder / sub)
        for name in names:
            assert cv2.imwrite(str(folder / sub / name), np.full((12, 16, 3), 100, np.uint8))


def test_metrics_refuses_renders_without_ground_truth(tmp_path, capsys):
    write_views(tmp_path / "m" / "test" / "ours_30", ["a.png", "b.png", "c.png", "d.png"], ["a.png"])
    assert metrics.main(["-m", str(tmp_path / "m")]) == 1
    err = capsys.readouterr().err
    [line] = [l for l in err.splitlines() if "error" in l]
    assert "3 render(s) without ground truth" in line and "b.png, c.png, d.png" in line
    assert not (tmp_path / "m" / "results.json").exists()


def test_metrics_scores_and_counts_the_complete_views_when_allowed(tmp_path, capsys):
    write_views(tmp_path / "m" / "test" / "ours_30", ["a.png", "b.png", "c.png", "d.png"], ["a.png", "e.png"])
    assert metrics.main(["-m", str(tmp_path / "m"), "--allow_missing_views"]) == 0
    assert "4 view(s) have a render or ground truth but not both" in capsys.readouterr().err
    saved = json.loads((tmp_path / "m" / "results.json").read_text())["ours_30"]
    assert saved["views"] == 1 and saved["missing_views"] == 4


def test_prompt_ids_no_gaussian_predicts_are_warned_about(tiny_scene, tmp_path, capsys):
    from scene.model_folder import load_model
    model = tmp_path / "m"
    assert train.main(["-s", tiny_scene, "-m", str(model), *TINY_FLAGS, "--num_classes", "64",
                       "--save_iterations", "--checkpoint_iterations"]) == 0
    loaded = load_model(str(model))
    with torch.no_grad():
        probabilities = loaded.classifier.gaussian_probabilities(loaded.gaussians.get_objects)
    predicted = set(probabilities.argmax(dim=1).tolist())
    unused = max(set(range(64)) - predicted)
    used = min(predicted)
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps({"ghost": [unused], "real": [used]}))
    capsys.readouterr()
    assert render.main(["-m", str(model), "--skip_train", "--quiet", "--prompt_ids", str(prompts)]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert warnings == [f"warning: prompt 'ghost': no Gaussian of iteration 30 predicts id(s) [{unused}]; "
                        f"its masks will likely be empty"]
