"""Check IGD's and LA-KNN's premises on a trained synthetic-scene checkpoint (see
`bench/method_diagnostics.py`); prints markdown tables.

    python scripts/diagnose_method.py -m output/val/full --checkpoint output/val/full/chkpnt1500.pth

Run it on a validation scene: its exact geometry is used, so it must not be a benchmark scene.
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from arguments import GROUPS, add_group, combine_with_cfg_args  # noqa: E402
from bench.method_diagnostics import (  # noqa: E402
    PixelAccuracy,
    boundary_band,
    boundary_gaussians,
    global_knn_purity,
    laknn_purity,
    synthetic_truth,
    top_fraction_precision,
    true_gaussian_ids,
)
from gaussian_renderer import render  # noqa: E402
from method.igd import boundary_normals  # noqa: E402
from training.trainer import Trainer  # noqa: E402
from utils.atomic_io import write_json_atomic  # noqa: E402
from utils.loss_utils import identity_ce_loss, photometric_loss  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for group in GROUPS:
        add_group(parser, group)
    parser.add_argument("--checkpoint", required=True, help="chkpnt<iteration>.pth of the model")
    parser.add_argument("--band_px", type=int, default=2, help="half-width of the boundary pixel band")
    parser.add_argument("--targets", type=int, default=2000, help="boundary targets for the KNN purity")
    parser.add_argument("--json", default="", help="also write the figures to this JSON file")
    return parser


def per_view_gradients(trainer: Trainer) -> dict[str, torch.Tensor]:
    """Over all training views at the checkpoint's state: the summed position gradient (N, 3)
    of the 2D identity loss and of the total 2D loss, and the mean identity-encoding gradient
    norm per visible view (N,) (IGD's statistic, measured afresh)."""
    gaussians, opt = trainer.gaussians, trainer.opt
    params = gaussians.parameters_by_group()
    xyz, objects = params["xyz"], params["obj_dc"]
    identity_xyz, total_xyz = torch.zeros_like(xyz), torch.zeros_like(xyz)
    identity_norm, visits = torch.zeros(xyz.shape[0]), torch.zeros(xyz.shape[0])
    identity_vector = torch.zeros(xyz.shape[0], objects[0].numel())
    for camera in trainer.scene.getTrainCameras():
        out = render(camera, gaussians, trainer.pipe, trainer.background)
        loss_id = opt.lambda_obj_2d * identity_ce_loss(trainer.classifier(out["render_object"]), camera.objects)
        loss_rgb = photometric_loss(out["render"], camera.original_image, opt.lambda_dssim)
        g_xyz_id, g_obj = torch.autograd.grad(loss_id, [xyz, objects], retain_graph=True)
        (g_xyz_rgb,) = torch.autograd.grad(loss_rgb, [xyz])
        visible = out["visibility_filter"]
        identity_xyz += g_xyz_id
        total_xyz += g_xyz_id + g_xyz_rgb
        identity_norm[visible] += g_obj[visible].flatten(1).norm(dim=1)
        identity_vector[visible] += g_obj[visible].flatten(1)
        visits[visible] += 1
    return {"identity": identity_xyz, "total": total_xyz,
            "identity_norm": identity_norm / visits.clamp_min(1),
            "identity_cancelled": identity_cancelled(identity_norm, identity_vector, visits)}


def identity_cancelled(norm_sum: torch.Tensor, vector_sum: torch.Tensor, visits: torch.Tensor) -> torch.Tensor:
    """(N,) the part of the identity gradient that cancels between views, per visit:
    (sum of norms (N,) - norm of the sum (N, D)) / visits (N,). Zero when every view pulls the
    same way (a one-sided push, e.g. from one wrong mask); large for opposite pulls."""
    return (norm_sum - vector_sum.norm(dim=1)) / visits.clamp_min(1)


def main(argv=None) -> int:
    args = combine_with_cfg_args(build_parser(), argv)
    args.start_checkpoint, args.quiet = args.checkpoint, True
    trainer = Trainer.from_args(args)
    gaussians, classifier = trainer.gaussians, trainer.classifier
    truth = synthetic_truth(args.source_path)
    xyz = gaussians.get_xyz.detach()
    true_ids = true_gaussian_ids(xyz, truth)
    on_boundary = boundary_gaussians(xyz, true_ids)
    with torch.no_grad():
        predicted = classifier.gaussian_probabilities(gaussians.get_objects).argmax(dim=1)
    wrong = predicted != true_ids
    grads = per_view_gradients(trainer)

    record = {"checkpoint": args.checkpoint, "gaussians": xyz.shape[0], "boundary_share": on_boundary.float().mean().item(),
              "wrong_id_boundary": wrong[on_boundary].float().mean().item(), "igd_premise": {}, "laknn_premise": {},
              "band_accuracy": {}, "interior_accuracy": {}}
    print(f"## {args.checkpoint}: {xyz.shape[0]} Gaussians, {on_boundary.float().mean():.1%} on a boundary\n")
    print("| Gaussians with a wrong id | all | boundary | interior |\n|:--|--:|--:|--:|")
    print(f"| share | {wrong.float().mean():.2%} | {wrong[on_boundary].float().mean():.2%} "
          f"| {wrong[~on_boundary].float().mean():.2%} |\n")

    print("| IGD premise: share of boundary Gaussians among the top ... by identity gradient | 1% | 2% | 5% | base rate |")
    print("|:--|--:|--:|--:|--:|")
    # A 3D prior from the model itself: another class predicted among the 16 nearest Gaussians.
    predicted_boundary = boundary_gaussians(xyz, predicted).float()
    for name, score in (("mean ‖dL/de‖ over the training views", grads["identity_norm"]),
                        ("cancelled: (Σ‖dL/de‖ - ‖ΣdL/de‖) / views (opposite pulls)", grads["identity_cancelled"]),
                        ("mean ‖dL/de‖, only Gaussians with a neighbour predicted as another class",
                         grads["identity_norm"] * predicted_boundary)):
        record["igd_premise"][name] = [top_fraction_precision(score, on_boundary, f) for f in (0.01, 0.02, 0.05)]
        cells = [f"{p:.1%}" for p in record["igd_premise"][name]]
        print(f"| {name} | {' | '.join(cells)} | {on_boundary.float().mean():.1%} |")
    print()

    generator = torch.Generator().manual_seed(0)
    boundary_rows = torch.nonzero(on_boundary).squeeze(1)
    targets = boundary_rows[torch.randperm(boundary_rows.numel(), generator=generator)[:args.targets]]
    method, opt = trainer.method, trainer.opt
    # IGD's boundary normal, from the true ids: from the target towards the other object.
    normals, _ = boundary_normals(xyz, true_ids, targets, 16)
    oracle = torch.zeros_like(xyz)
    oracle[targets] = normals            # LA-KNN steps against the field: towards home
    # The same normal from the classifier's predicted ids: a direction available in training.
    predicted_normals, _ = boundary_normals(xyz, predicted, targets, 16)
    predicted_field = torch.zeros_like(xyz)
    predicted_field[targets] = predicted_normals
    fields = {"accumulated training gradient (what LA-KNN uses)": trainer.strategy.statistics.position_gradients(),
              "identity-loss gradient, all training views now": grads["identity"],
              "total-loss gradient, all training views now": grads["total"],
              "random direction": torch.randn(xyz.shape, generator=generator),
              "predicted-id normal: towards the Gaussians the classifier gives the target's class":
                  predicted_field,
              "oracle: towards the own-object neighbours": oracle}
    home = -normals
    print(f"| LA-KNN premise, {targets.numel()} boundary targets, {method.laknn_candidates} candidates "
          f"| mean cos(direction, home) | own-object neighbours, nearest first | ..., smallest projection |")
    print("|:--|--:|--:|--:|")
    record["laknn_premise"]["global KNN"] = {"purity": global_knn_purity(xyz, true_ids, targets, opt.reg3d_k)}
    print(f"| global KNN | | {record['laknn_premise']['global KNN']['purity']:.1%} | |")
    for name, field in fields.items():
        cosine = torch.nn.functional.cosine_similarity(-field[targets], home, dim=1).mean().item()
        purity = [laknn_purity(xyz, true_ids, targets, opt.reg3d_k, method.laknn_candidates, field, rank_by)
                  for rank_by in ("distance", "projection")]
        record["laknn_premise"][name] = {"cosine": cosine, "purity": purity[0], "purity_projection": purity[1]}
        print(f"| {name} | {cosine:+.2f} | {purity[0]:.1%} | {purity[1]:.1%} |")
    print()

    print(f"| rendered ids vs exact ids (band ±{args.band_px} px) | boundary band | interior |")
    print("|:--|--:|--:|")
    with torch.no_grad():
        for split, cameras in (("train", trainer.scene.getTrainCameras()), ("test", trainer.scene.getTestCameras())):
            accuracy = PixelAccuracy()
            for camera in cameras:
                out = render(camera, gaussians, trainer.pipe, trainer.background)
                ids = classifier(out["render_object"]).argmax(dim=0).cpu().numpy()
                exact = truth.id_maps[camera.image_name]
                accuracy.add(ids, exact, boundary_band(exact, args.band_px))
            print(f"| {split} views ({len(cameras)}) | {accuracy.band:.2%} | {accuracy.interior:.2%} |")
            record["band_accuracy"][split], record["interior_accuracy"][split] = accuracy.band, accuracy.interior
    if args.json:
        write_json_atomic(args.json, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
