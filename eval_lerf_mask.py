"""Score LERF-Mask prompt masks: IoU and Boundary IoU per prompt and per scene.

    python eval_lerf_mask.py --gt data/lerf_mask/figurines/test_mask \
        --pred output/figurines/test/ours_30000/test_mask [--out results.json]

Prints a markdown table; the protocol is described in `utils/lerf_eval.py`.
"""
from __future__ import annotations

import sys
from argparse import ArgumentParser

from utils.atomic_io import atomic_path
from utils.lerf_eval import SceneEvaluation, evaluate_folder


def write_json(evaluation: SceneEvaluation, path: str) -> None:
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        f.write(evaluation.to_json() + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(description="LERF-Mask IoU / Boundary IoU evaluation")
    parser.add_argument("--gt", required=True, help="ground truth: <view>/<prompt>.png, 0/255")
    parser.add_argument("--pred", required=True, help="predictions in the same layout")
    parser.add_argument("--out", help="write the full results here as JSON")
    parser.add_argument("--dilation_ratio", type=float, default=0.02,
                        help="boundary band width as a fraction of the image diagonal")
    parser.add_argument("--scene", default="", help="scene label for the table and JSON")
    parser.add_argument("--method", default="", help="method label for the table and JSON")
    args = parser.parse_args(argv)
    try:
        evaluation = evaluate_folder(args.gt, args.pred, args.dilation_ratio,
                                     scene=args.scene, method=args.method)
    except (OSError, ValueError) as err:
        print(f"eval_lerf_mask.py: error: {err}", file=sys.stderr)
        return 1
    print(evaluation.to_markdown())
    if args.out:
        write_json(evaluation, args.out)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
