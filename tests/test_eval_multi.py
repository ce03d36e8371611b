"""Several scenes x methods: Table 1 / Table 4 grids, CSV and JSON, missing files and folders,
the --entry / --runs command line. Masks are hand-made with hand-computed IoU / Boundary IoU."""
import csv
import io
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from evaluation.lerf_eval import (
    EvalEntry,
    Metric,
    ResultGrid,
    evaluate_entries,
    model_modules,
    read_runs_file,
)
from evaluation.segmentation_metrics import boundary_iou, iou

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHAPE = (10, 10)   # diagonal 14.1: the boundary band is 1 px wide


def rect(rows, cols):
    mask = np.zeros(SHAPE, dtype=bool)
    mask[rows[0]:rows[1] + 1, cols[0]:cols[1] + 1] = True
    return mask


EMPTY = np.zeros(SHAPE, dtype=bool)
TOP_HALF = rect((0, 4), (0, 9))       # touches three image borders
TOP_SIX_ROWS = rect((0, 5), (0, 9))
CENTRE = rect((3, 6), (3, 6))
CORNER = rect((1, 4), (1, 4))
# Hand-computed. TOP_HALF's band: row 0 (10) + row 4 (10) + columns 0 and 9 of rows 1-3 (6) = 26 px;
# TOP_SIX_ROWS': row 0 + row 5 + columns 0 and 9 of rows 1-4 = 28; shared: row 0 and columns 0 and 9
# of rows 1-4 = 18 -> 18 / (26 + 28 - 18) = 1/2.
BORDER_IOU, BORDER_BIOU = 50 / 60, 18 / 36
CORNER_IOU, CORNER_BIOU = 1 / 7, 1 / 11   # CORNER vs CENTRE (see test_segmentation_metrics)


def write_mask(path, mask):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    assert cv2.imwrite(str(path), mask.astype(np.uint8) * 255)


def test_hand_computed_values_hold():
    assert iou(TOP_SIX_ROWS, TOP_HALF) == pytest.approx(BORDER_IOU)
    assert boundary_iou(TOP_SIX_ROWS, TOP_HALF) == pytest.approx(BORDER_BIOU)
    assert boundary_iou(CORNER, CENTRE) == pytest.approx(CORNER_BIOU)


@pytest.fixture
def suite(tmp_path):
    """Scenes alpha (v0: cup, ghost [empty gt]; v1: cup) and beta (v0: cup); methods
    full (IGD + LA-KNN), base (neither; beta's prediction folder is missing), nolaknn (alpha only)."""
    gt = {"alpha": {("v0", "cup"): TOP_HALF, ("v0", "ghost"): EMPTY, ("v1", "cup"): CENTRE},
          "beta": {("v0", "cup"): CENTRE}}
    preds = {
        ("alpha", "full"): {("v0", "cup"): TOP_SIX_ROWS, ("v0", "ghost"): EMPTY, ("v1", "cup"): CORNER},
        ("alpha", "base"): {("v0", "ghost"): CORNER, ("v1", "cup"): CENTRE},   # v0/cup missing
        ("alpha", "nolaknn"): {("v0", "cup"): TOP_HALF, ("v0", "ghost"): EMPTY, ("v1", "cup"): CENTRE},
        ("beta", "full"): {("v0", "cup"): CENTRE},
    }
    for scene, masks in gt.items():
        for (view, prompt), mask in masks.items():
            write_mask(tmp_path / "gt" / scene / view / f"{prompt}.png", mask)
    for (scene, method), masks in preds.items():
        for (view, prompt), mask in masks.items():
            write_mask(tmp_path / "pred" / scene / method / view / f"{prompt}.png", mask)
    flags = {"full": (True, True), "base": (False, False), "nolaknn": (True, False)}
    entries = [EvalEntry(scene, method, str(tmp_path / "gt" / scene), str(tmp_path / "pred" / scene / method),
                         *flags[method])
               for scene, method in [("alpha", "full"), ("alpha", "base"), ("alpha", "nolaknn"),
                                     ("beta", "full"), ("beta", "base")]]
    return tmp_path, entries


ALPHA_FULL_MIOU = ((BORDER_IOU + CORNER_IOU) / 2 + 1.0) / 2      # prompts cup, ghost (both empty: 1)
ALPHA_FULL_MBIOU = ((BORDER_BIOU + CORNER_BIOU) / 2 + 1.0) / 2


def test_scene_numbers_with_empty_missing_and_border_masks(suite):
    _, entries = suite
    result = evaluate_entries(entries)
    by_key = {(e.scene, e.method): e for e in result.evaluations}
    full = by_key["alpha", "full"]
    assert full.miou == pytest.approx(ALPHA_FULL_MIOU) and full.mbiou == pytest.approx(ALPHA_FULL_MBIOU)
    base = by_key["alpha", "base"]   # cup: missing (0) and exact (1); ghost: prediction on empty gt (0)
    assert (base.miou, base.mbiou) == (pytest.approx(0.25), pytest.approx(0.25))
    assert base.missing == [os.path.join(entries[1].pred_dir, "v0", "cup.png")]
    missing_folder = by_key["beta", "base"]
    assert missing_folder.pred_dir_missing and (missing_folder.miou, missing_folder.mbiou) == (0.0, 0.0)
    assert by_key["beta", "full"].miou == 1.0
    assert result.scenes == ["alpha", "beta"] and result.methods == ["full", "base", "nolaknn"]


def test_table1_grid_markdown_and_csv(suite):
    _, entries = suite
    table = evaluate_entries(entries).table1()
    lines = table.to_markdown().splitlines()
    assert lines[0] == ("| method | alpha mIoU | alpha mBIoU | beta mIoU | beta mBIoU "
                        "| mean mIoU | mean mBIoU |")
    mean_miou = (ALPHA_FULL_MIOU + 1) / 2 * 100
    mean_mbiou = (ALPHA_FULL_MBIOU + 1) / 2 * 100
    assert lines[2] == (f"| full | {100 * ALPHA_FULL_MIOU:.1f} | {100 * ALPHA_FULL_MBIOU:.1f} | 100.0 | 100.0 "
                        f"| {mean_miou:.1f} | {mean_mbiou:.1f} |")
    assert lines[3] == "| base | 25.0 | 25.0 | 0.0 | 0.0 | 12.5 | 12.5 |"
    assert lines[4] == "| nolaknn | 100.0 | 100.0 | – | – | – | – |"   # no beta run: no mean

    rows = list(csv.DictReader(io.StringIO(table.to_csv())))
    assert [r["method"] for r in rows] == ["full", "base", "nolaknn"]
    assert float(rows[0]["alpha_miou_pct"]) == pytest.approx(100 * ALPHA_FULL_MIOU, abs=1e-3)
    assert float(rows[0]["mean_mbiou_pct"]) == pytest.approx(mean_mbiou, abs=1e-3)
    assert rows[2]["beta_miou_pct"] == "" and rows[2]["mean_miou_pct"] == ""


def test_table4_rows_follow_the_paper_order(suite):
    _, entries = suite
    table = evaluate_entries(entries).table4()
    labels = [row[0] for row in table.rows]
    assert labels == [["w/o IGD & LA-KNN", "base", "✗", "✗"], ["w/o LA-KNN", "nolaknn", "✓", "✗"],
                      ["IGD + LA-KNN (full)", "full", "✓", "✓"]]
    assert "| w/o LA-KNN | nolaknn | ✓ | ✗ | 100.0 | 100.0 | – | – | – | – |" in table.to_markdown()


def test_table4_needs_two_known_variants(suite):
    _, entries = suite
    unknown = [EvalEntry(e.scene, e.method, e.gt_dir, e.pred_dir) for e in entries]
    assert evaluate_entries(unknown).table4() is None   # no cfg_args beside these folders
    one_variant = [e for e in entries if e.method == "full"]
    assert evaluate_entries(one_variant).table4() is None


def test_written_files(suite):
    tmp_path, entries = suite
    result = evaluate_entries(entries)
    paths = result.write(str(tmp_path / "out"))
    assert sorted(os.path.basename(p) for p in paths) == sorted(
        ["tables.md", "table1.csv", "table4.csv", "per_prompt.csv", "details.md", "results.json"])
    assert sorted(os.listdir(tmp_path / "out")) == sorted(os.path.basename(p) for p in paths)

    prompts = list(csv.DictReader(open(tmp_path / "out" / "per_prompt.csv")))
    row = next(r for r in prompts if (r["scene"], r["method"], r["prompt"]) == ("alpha", "base", "cup"))
    assert (float(row["miou"]), int(row["num_views"]), int(row["num_missing"])) == (0.5, 2, 1)

    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert data["scenes"] == ["alpha", "beta"]
    assert data["table1"][1] == {"method": "base", "alpha": {"miou_pct": 25.0, "mbiou_pct": 25.0},
                                 "beta": {"miou_pct": 0.0, "mbiou_pct": 0.0},
                                 "mean": {"miou_pct": 12.5, "mbiou_pct": 12.5}}
    assert [e["method"] for e in data["evaluations"]] == ["full", "base", "nolaknn", "full", "base"]
    tables = (tmp_path / "out" / "tables.md").read_text()
    assert "prediction folder not found" in tables and "1 of 3 prediction files missing" in tables


def test_duplicate_entry_is_an_error(suite):
    _, entries = suite
    with pytest.raises(ValueError, match="scene 'alpha' and method 'full' are given twice"):
        evaluate_entries(entries + entries[:1])


def test_modules_read_from_the_model_cfg_args(tmp_path):
    pred = tmp_path / "model" / "test" / "ours_30" / "test_mask"
    pred.mkdir(parents=True)
    assert model_modules(str(pred)) == (None, None)
    (tmp_path / "model" / "cfg_args").write_text(json.dumps({"no_igd": True, "no_laknn": False}))
    assert model_modules(str(pred)) == (False, True)
    (tmp_path / "model" / "cfg_args").write_text("Namespace(sh_degree=3)")   # Gaussian Grouping's
    assert model_modules(str(pred)) == (None, None)


def test_runs_file_paths_are_relative_to_it(suite, tmp_path):
    root, _ = suite
    runs = tmp_path / "lists" / "runs.json"
    runs.parent.mkdir()
    runs.write_text(json.dumps({"runs": [{"scene": "beta", "method": "full", "gt": "../gt/beta",
                                          "pred": "../pred/beta/full", "igd": True, "laknn": True}]}))
    (entry,) = read_runs_file(str(runs))
    assert os.path.samefile(entry.gt_dir, root / "gt" / "beta") and (entry.igd, entry.laknn) == (True, True)
    for bad, message in [([{"scene": "a", "method": "m", "gt": "g"}], r"needs string fields \['pred'\]"),
                         ([{"scene": "a", "method": "m", "gt": "g", "pred": "p", "igd": "yes"}], "'igd'"),
                         ([{"scene": "a", "method": "m", "gt": "g", "pred": "p", "iou": 1}], "unknown fields"),
                         ([], "non-empty list")]:
        runs.write_text(json.dumps(bad))
        with pytest.raises(ValueError, match=message) as err:
            read_runs_file(str(runs))
        assert str(runs) in str(err.value)


def test_grid_mean_needs_every_scene():
    grid = ResultGrid(["method"], ["a", "b"], [Metric("PSNR", "psnr", 1.0, 2)])
    grid.add_row(["x"], {"a": [20.0], "b": [30.0]})
    grid.add_row(["y"], {"b": [10.0]})
    assert grid.to_markdown().splitlines()[2:] == ["| x | 20.00 | 30.00 | 25.00 |", "| y | – | 10.00 | – |"]
    assert grid.to_records()[1] == {"method": "y", "a": None, "b": {"psnr": 10.0}, "mean": None}
    with pytest.raises(ValueError, match="needs 1 labels"):
        grid.add_row(["x", "extra"], {})


def run_cli(*args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "eval_lerf_mask.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def test_cli_entries_and_runs_file(suite, tmp_path):
    root, entries = suite
    proc = run_cli("--entry", "alpha", "full", entries[0].gt_dir, entries[0].pred_dir,
                   "--entry", "beta", "full", entries[3].gt_dir, entries[3].pred_dir,
                   "--out_dir", tmp_path / "cli")
    assert proc.returncode == 0, proc.stderr
    assert f"| full | {100 * ALPHA_FULL_MIOU:.1f} |" in proc.stdout
    assert "Table 4" not in proc.stdout   # modules unknown without cfg_args or a runs file
    assert (tmp_path / "cli" / "table1.csv").is_file() and not (tmp_path / "cli" / "table4.csv").exists()

    runs = tmp_path / "runs.json"
    runs.write_text(json.dumps([{"scene": e.scene, "method": e.method, "gt": e.gt_dir, "pred": e.pred_dir,
                                 "igd": e.igd, "laknn": e.laknn} for e in entries]))
    proc = run_cli("--runs", runs, "--out", tmp_path / "all.json")
    assert proc.returncode == 0, proc.stderr
    assert "| w/o IGD & LA-KNN | base | ✗ | ✗ | 25.0 | 25.0 | 0.0 | 0.0 | 12.5 | 12.5 |" in proc.stdout
    assert json.loads((tmp_path / "all.json").read_text())["methods"] == ["full", "base", "nolaknn"]


def test_cli_rejects_mixed_modes(suite):
    _, entries = suite
    proc = run_cli("--gt", entries[0].gt_dir, "--pred", entries[0].pred_dir,
                   "--entry", "a", "m", entries[0].gt_dir, entries[0].pred_dir)
    assert proc.returncode == 2 and "either --gt and --pred" in proc.stderr
    proc = run_cli("--gt", entries[0].gt_dir)
    assert proc.returncode == 2 and "--gt and --pred go together" in proc.stderr


def write_render_folder(model, iteration, offset):
    """A model's rendered test views: gt grey 120, renders `offset` darker (PSNR 20 log10(255/offset))."""
    folder = model / "test" / f"ours_{iteration}"
    os.makedirs(folder / "gt")
    os.makedirs(folder / "renders")
    for name in ("a.png", "b.png"):
        assert cv2.imwrite(str(folder / "gt" / name), np.full((12, 16, 3), 120, np.uint8))
        assert cv2.imwrite(str(folder / "renders" / name), np.full((12, 16, 3), 120 - offset, np.uint8))


def test_metrics_cli_reconstruction_table(tmp_path):
    write_render_folder(tmp_path / "gg", 30, offset=10)
    write_render_folder(tmp_path / "ours", 30, offset=5)
    write_render_folder(tmp_path / "ours", 7, offset=20)
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "metrics.py"), "-m", str(tmp_path / "ours"),
                           "--entry", "s", "gaussian_grouping", str(tmp_path / "gg"),
                           "--entry", "s", "gradiseg", str(tmp_path / "ours"), "--out_dir", str(tmp_path / "t3")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    psnr = {offset: 20 * np.log10(255 / offset) for offset in (5, 10, 20)}
    assert f"| {tmp_path / 'ours'} | 7 | {psnr[20]:.2f} | " in proc.stdout
    assert f"| {tmp_path / 'ours'} | 30 | {psnr[5]:.2f} | " in proc.stdout
    row = next(line for line in proc.stdout.splitlines() if line.startswith("| gradiseg |"))
    cells = row.strip("| ").split(" | ")                # latest iteration (30), scene s, then the mean
    assert cells[1] == cells[3] == f"{psnr[5]:.2f}" and 0.99 < float(cells[2]) < 1.0
    assert "LPIPS" in proc.stdout.splitlines()[-1]      # computed, or a note saying why not
    saved = json.loads((tmp_path / "ours" / "results.json").read_text())
    assert saved["ours_7"]["PSNR"] == pytest.approx(psnr[20], abs=1e-3)
    assert (tmp_path / "t3" / "table3.csv").read_text().splitlines()[0] == "method,s_psnr,s_ssim,mean_psnr,mean_ssim"
    missing = subprocess.run([sys.executable, os.path.join(ROOT, "metrics.py"), "-m", str(tmp_path / "none")],
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1 and "run render.py first" in missing.stderr
