"""Train a GradiSeg / Gaussian Grouping model on a scene folder.

    python train.py -s data/scene -m output/scene --config_file config/gradiseg/lerf_mask.json
"""
import sys

from arguments import parse_training_args, write_cfg_args
from training.trainer import Trainer, TrainingDiverged
from utils.errors import exits_cleanly_on


@exits_cleanly_on(TrainingDiverged)
def main(argv=None) -> int:
    args = parse_training_args(argv)
    write_cfg_args(args, args.model_path)
    trainer = Trainer.from_args(args)
    print(f"Output folder: {args.model_path}  ({len(trainer.scene.getTrainCameras())} train / "
          f"{len(trainer.scene.getTestCameras())} test views, "
          f"{trainer.gaussians.get_xyz.shape[0]} initial Gaussians)")
    print(f"Device: {trainer.device}   Schedule: {trainer.strategy.describe()}")
    trainer.run()
    print("Training complete.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
