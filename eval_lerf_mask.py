"""Score LERF-Mask prompt masks: IoU and Boundary IoU per prompt, per scene, per method.

One scene:
    python eval_lerf_mask.py --gt data/lerf_mask/figurines/test_mask \\
        --pred output/figurines/test/ours_30000/test_mask [--out results.json]
Several scenes and methods (the paper's Table 1, and Table 4 for ablation variants):
    python eval_lerf_mask.py --out_dir results \\
        --entry figurines gradiseg data/lerf_mask/figurines/test_mask output/figurines/test/ours_30000/test_mask \\
        --entry figurines gaussian_grouping data/lerf_mask/figurines/test_mask output/figurines_gg/test/ours_30000/test_mask
    python eval_lerf_mask.py --runs runs.json --out_dir results

Prints markdown tables; the protocol is described in `evaluation/lerf_eval.py`.
"""
from __future__ import annotations

import sys
from argparse import ArgumentParser

from evaluation.lerf_eval import (
    BenchmarkEvaluation,
    EvalEntry,
    SceneEvaluation,
    evaluate_entries,
    evaluate_folder,
    read_runs_file,
    write_text_atomic,
)
from utils.errors import exits_cleanly_on


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(description="LERF-Mask IoU / Boundary IoU evaluation")
    single = parser.add_argument_group("one scene")
    single.add_argument("--gt", help="ground truth: <view>/<prompt>.png, 0/255")
    single.add_argument("--pred", help="predictions in the same layout")
    single.add_argument("--scene", default="", help="scene label for the table and JSON")
    single.add_argument("--method", default="", help="method label for the table and JSON")
    multi = parser.add_argument_group("several scenes and methods")
    multi.add_argument("--entry", nargs=4, action="append", default=[],
                       metavar=("SCENE", "METHOD", "GT", "PRED"), help="one (scene, method); repeat")
    multi.add_argument("--runs", help="JSON list of {scene, method, gt, pred[, igd, laknn]}")
    multi.add_argument("--out_dir", help="write tables.md, table1.csv, table4.csv, per_prompt.csv, "
                                         "details.md and results.json here")
    parser.add_argument("--out", help="write the full results here as JSON")
    parser.add_argument("--dilation_ratio", type=float, default=0.02,
                        help="boundary band width as a fraction of the image diagonal")
    return parser


def run_single(args) -> SceneEvaluation:
    evaluation = evaluate_folder(args.gt, args.pred, args.dilation_ratio,
                                 scene=args.scene, method=args.method)
    print(evaluation.to_markdown())
    if args.out:
        write_text_atomic(args.out, evaluation.to_json() + "\n")
        print(f"wrote {args.out}")
    return evaluation


def run_multi(args) -> BenchmarkEvaluation:
    entries = [EvalEntry(scene, method, gt, pred) for scene, method, gt, pred in args.entry]
    if args.runs:
        entries += read_runs_file(args.runs)
    benchmark = evaluate_entries(entries, args.dilation_ratio)
    print(benchmark.to_markdown())
    if args.out:
        write_text_atomic(args.out, benchmark.to_json() + "\n")
        print(f"wrote {args.out}")
    if args.out_dir:
        paths = benchmark.write(args.out_dir)
        print(f"wrote {', '.join(paths)}")
    return benchmark


@exits_cleanly_on()
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    single = args.gt is not None or args.pred is not None
    multi = bool(args.entry or args.runs)
    if single == multi:
        parser.error("give either --gt and --pred (one scene) or --entry / --runs (several)")
    if single and (args.gt is None or args.pred is None):
        parser.error("--gt and --pred go together")
    if single and args.out_dir:
        parser.error("--out_dir is for several scenes and methods; use --out for one")
    run_single(args) if single else run_multi(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
