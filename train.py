"""Train a GradiSeg / Gaussian Grouping model on a scene folder.

    python train.py -s data/scene -m output/scene --config_file config/gradiseg/lerf_mask.json
"""
import sys

from arguments import parse_training_args, write_cfg_args
from scene.model_folder import SaveError
from training.output_folder import prepare_model_folder
from training.trainer import Trainer, TrainingDiverged
from utils.errors import exits_cleanly_on


@exits_cleanly_on(TrainingDiverged, SaveError)
def main(argv=None) -> int:
    args = parse_training_args(argv)
    args.start_checkpoint = prepare_model_folder(args.model_path, args.start_checkpoint, args.resume,
                                                 args.overwrite)
    write_cfg_args(args, args.model_path)
    trainer = Trainer.from_args(args)
    print(f"Output folder: {args.model_path}  ({len(trainer.scene.getTrainCameras())} train / "
          f"{len(trainer.scene.getTestCameras())} test views, "
          f"{trainer.gaussians.get_xyz.shape[0]} initial Gaussians)")
    if args.start_checkpoint:
        print(f"Resuming from {args.start_checkpoint} at iteration {trainer.first_iteration}")
    print(f"Device: {trainer.device}   Schedule: {trainer.strategy.describe()}")
    trainer.run()
    print("Training complete.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
