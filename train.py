"""Train a GradiSeg / Gaussian Grouping model on a scene folder.

    python train.py -s data/scene -m output/scene --config_file config/gradiseg/lerf_mask.json
    python train.py -s data/scene -m output/scene --viewer      # live view at http://127.0.0.1:8080
"""
import sys

from arguments import parse_training_args, write_cfg_args
from scene.model_folder import SaveError, check_resume, prepare_model_folder
from training.trainer import Trainer, TrainingDiverged
from utils.errors import exits_cleanly_on
from utils.memory import keep_freed_memory


@exits_cleanly_on(TrainingDiverged, SaveError)
def main(argv=None) -> int:
    keep_freed_memory()   # no page-fault storm from per-iteration buffers (utils/memory.py)
    args = parse_training_args(argv)
    args.start_checkpoint = prepare_model_folder(args.model_path, args.start_checkpoint, args.resume,
                                                 args.overwrite, lambda checkpoint: check_resume(args, checkpoint))
    trainer = Trainer.from_args(args)
    write_cfg_args(args, args.model_path)   # after the checkpoint is loaded: a refused resume keeps the old one
    print(f"Output folder: {args.model_path}  ({len(trainer.scene.getTrainCameras())} train / "
          f"{len(trainer.scene.getTestCameras())} test views, "
          f"{trainer.gaussians.get_xyz.shape[0]} initial Gaussians)")
    if args.start_checkpoint:
        print(f"Resuming from {args.start_checkpoint} at iteration {trainer.first_iteration}")
    print(f"Device: {trainer.device}   Schedule: {trainer.strategy.describe()}")
    viewer = None
    if args.viewer:
        # Imported only here: viser and its dependencies (about 10 MB of wheels) stay off the
        # start-up path of a training run without the viewer (an offline GPU machine lacks them).
        from apps.viewer.server import ViewerOptions, open_training_viewer
        viewer = open_training_viewer(trainer, ViewerOptions(port=args.viewer_port))
        trainer.add_iteration_callback(args.viewer_refresh, viewer.show_training_state)
        print(f"Live viewer at {viewer.url} (refreshed every {args.viewer_refresh} iterations)", flush=True)
    trainer.run()   # the viewer's threads are daemons: a failed run exits without closing it
    print("Training complete.", flush=True)
    if viewer is not None:
        viewer.show_training_state(trainer, trainer.opt.iterations)
        viewer.serve_until_interrupted(
            f"The viewer stays at {viewer.url} with the final model; Ctrl+C to quit.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
