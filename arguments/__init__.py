"""Command-line parameter groups (3DGS / Gaussian Grouping names) and JSON config merging.

Each group is a dataclass; its fields become `--flags` (with 3DGS's short forms; a boolean
`--flag` also has `--no-flag`, so a config's `true` can be switched off) and `extract(args)`
builds the dataclass back from parsed arguments. A JSON config file (`--config_file`) supplies
values for any flag; a flag given on the command line wins.

A model folder's `cfg_args` is written as 3DGS / Gaussian Grouping write it, one line
`Namespace(key=value, ...)`, so SIBR and GG's scripts read our model folders; it is read back
with `ast` (literals only, never evaluated), and JSON `cfg_args` of older GradiSeg folders are
read too. Gaussian Grouping's training flags that have no meaning here are accepted with a
note (`--ip`, `--port`) or refused with a hint (`--n_views`, `--train_split`).
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Sequence, TypeVar

from gaussian_renderer.backend import BACKENDS
from utils.atomic_io import read_json, write_text_atomic

T = TypeVar("T")

SHORT_FLAGS = {"source_path": "-s", "model_path": "-m", "resolution": "-r", "images": "-i"}


class ConfigError(ValueError):
    """A config file or `cfg_args` that cannot be used; the message names the file."""


@dataclass
class ModelParams:
    sh_degree: int = field(default=3, metadata={"help": "maximum spherical-harmonics degree"})
    source_path: str = field(default="", metadata={"help": "scene folder (COLMAP or transforms.json)"})
    model_path: str = field(default="", metadata={"help": "output model folder"})
    images: str = field(default="images", metadata={"help": "image folder name inside the scene"})
    object_path: str = field(default="object_mask", metadata={"help": "mask folder name inside the scene"})
    resolution: int = field(default=-1, metadata={
        "help": "1|2|4|8 divide the image size; -1 scales images wider than 1600 px down"})
    white_background: bool = field(default=False, metadata={"help": "white background colour"})
    data_device: str = field(default="auto", metadata={
        "help": "where images are kept: auto (the compute device), cpu, cuda[:N]"})
    eval: bool = field(default=False, metadata={"help": "hold out test views (test_mask/ or every 8th)"})
    num_classes: int = field(default=256, metadata={"help": "object ids the classifier predicts"})
    num_objects: int = field(default=16, metadata={"help": "identity encoding dimension D"})
    allow_missing_masks: bool = field(default=False, metadata={
        "help": "train views without a mask on the photometric loss only"})
    random_init: bool = field(default=False, metadata={
        "help": "start from random points in the cameras' bounding box instead of the SfM points (GG)"})


@dataclass
class PipelineParams:
    convert_SHs_python: bool = False
    compute_cov3D_python: bool = False
    debug: bool = False
    device: str = field(default="auto", metadata={
        "help": "compute device: auto (CUDA if a GPU and the CUDA rasterizer are there, else CPU), cpu, cuda[:N]"})
    backend: str = field(default="auto", metadata={
        "choices": BACKENDS,
        "help": "rasterizer: auto (C++ extension if built), cpp, cuda_emulated (the CUDA kernels run on "
                "the CPU, for checking them), reference"})


@dataclass
class OptimizationParams:
    iterations: int = 30_000
    position_lr_init: float = 0.00016
    position_lr_final: float = 0.0000016
    position_lr_delay_mult: float = 0.01
    position_lr_max_steps: int = 30_000
    feature_lr: float = 0.0025
    object_lr: float = 0.0025
    opacity_lr: float = 0.05
    scaling_lr: float = 0.005
    rotation_lr: float = 0.001
    classifier_lr: float = 0.0005
    percent_dense: float = 0.01
    lambda_dssim: float = 0.2
    densification_interval: int = 100
    opacity_reset_interval: int = 3000
    densify_from_iter: int = 500
    densify_until_iter: int = 12_000
    densify_grad_threshold: float = 0.0002
    min_opacity: float = 0.005
    sh_increase_interval: int = 1000
    # Identity losses (Gaussian Grouping): 2D cross-entropy and the 3D neighbour KL term.
    lambda_obj_2d: float = 1.0
    reg3d_interval: int = 2
    reg3d_k: int = 5
    reg3d_lambda_val: float = 2.0
    reg3d_max_points: int = 200_000
    reg3d_sample_size: int = 1000


@dataclass
class GradiSegParams:
    """The method's two modules (paper sections 3.4, 3.5); both off is Gaussian Grouping."""
    no_igd: bool = field(default=False, metadata={"help": "disable Identity Gradient Guided Densification"})
    no_laknn: bool = field(default=False, metadata={"help": "use global KNN throughout, not LA-KNN"})
    igd_from_iter: int = 12_000
    igd_until_iter: int = 15_000
    igd_interval: int = 100
    igd_grad_threshold: float = field(default=1.5e-6, metadata={
        "help": "mean ||dL/d identity|| over visible iterations above which a Gaussian is split"})
    igd_grad_quantile: float = field(default=0.0, metadata={
        "help": "> 0: the threshold is this quantile of the statistic over the Gaussians seen since the "
                "last round, instead of igd_grad_threshold (carries over between resolutions and scenes)"})
    igd_contact_only: bool = field(default=False, metadata={
        "help": "split only candidates with a Gaussian of another predicted class among their igd_neighbors "
                "nearest (a 3D contact, not an occlusion silhouette or a mask error)"})
    igd_max_fraction: float = field(default=0.02, metadata={
        "help": "at most this fraction of the Gaussians is split per IGD round"})
    igd_neighbors: int = 16
    igd_split: str = field(default="halve", metadata={
        "choices": ("halve", "preserving"),
        "help": "halve: the split axis' scale halved, opacity copied; preserving: children that together "
                "render like their parent (measured no better after training on the demo scene)"})
    laknn_from_iter: int = 15_000
    laknn_candidates: int = 16
    laknn_direction: str = field(default="predicted_normal", metadata={
        "choices": ("predicted_normal", "position_gradient"),
        "help": "LA-KNN's neighbouring direction: towards the nearby Gaussians predicted as the target's class "
                "(IGD's boundary normal; our default), or minus the accumulated position gradient (the paper's, "
                "which barely points home on our validation scenes)"})
    laknn_ranking: str = field(default="distance", metadata={
        "choices": ("distance", "projection"),
        "help": "order of the candidates ahead of a target: nearest first, or smallest projection "
                "onto the neighbouring direction first (the literal reading (docs/design.md); less pure)"})


@dataclass
class RunParams:
    """What a run does around the optimisation: logging, evaluation, saving, resuming."""
    config_file: str = field(default="", metadata={"help": "JSON config; command-line flags override it"})
    test_iterations: list = field(default_factory=lambda: [7_000, 30_000])
    save_iterations: list = field(default_factory=lambda: [7_000, 30_000])
    checkpoint_iterations: list = field(default_factory=list)
    start_checkpoint: str = field(default="", metadata={"help": "resume from this chkpnt<N>.pth"})
    init_identities_from: str = field(default="", metadata={
        "help": "start from this model folder's Gaussians and classifier (a lift.py output: an RGB-only "
                "model labelled from the masks) instead of the scene's points; the run's schedule then "
                "continues training them"})
    resume: bool = field(default=False, metadata={
        "help": "resume from the latest chkpnt<N>.pth in the model folder"})
    overwrite: bool = field(default=False, metadata={
        "help": "delete another run's saves, checkpoints and renders in the model folder first"})
    resume_other_scene: bool = field(default=False, metadata={
        "help": "resume on another -s scene than the run's (its cfg_args and cameras.json then "
                "describe the new scene)"})
    seed: int = 0
    quiet: bool = False
    threads: int = field(default=0, metadata={"help": "CPU threads (0: torch's default)"})
    export_plain_ply: bool = field(default=False, metadata={
        "help": "also write point_cloud_plain.ply (3DGS attributes only) for viewers that reject "
                "extra properties"})
    use_wandb: bool = field(default=False, metadata={"help": "log scalars to Weights & Biases (needs wandb)"})
    detect_anomaly: bool = field(default=False, metadata={"help": "torch.autograd anomaly detection (slow)"})
    debug_from: int = field(default=-1, metadata={
        "help": "turn on the rasterizer's debug checks from this iteration (-1: never)"})
    viewer: bool = field(default=False, metadata={
        "help": "serve the live viewer (http://127.0.0.1:<viewer_port>) while training"})
    viewer_port: int = field(default=8080, metadata={"help": "the live viewer's port"})
    viewer_refresh: int = field(default=100, metadata={
        "help": "the live viewer shows the model of every this many iterations"})


GROUPS = (ModelParams, PipelineParams, OptimizationParams, GradiSegParams, RunParams)
# Fields with a closed set of values, checked for flags (argparse) and config files alike.
FIELD_CHOICES = {f.name: f.metadata["choices"] for group in GROUPS for f in dataclasses.fields(group)
                 if "choices" in f.metadata}


def add_group(parser: argparse.ArgumentParser, group: type) -> None:
    """Register every field of a parameter dataclass as a `--flag` on `parser`."""
    arg_group = parser.add_argument_group(group.__name__)
    for f in dataclasses.fields(group):
        flags = [f"--{f.name}"] + ([SHORT_FLAGS[f.name]] if f.name in SHORT_FLAGS else [])
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        help_text = f.metadata.get("help", "")
        if isinstance(default, bool):
            arg_group.add_argument(*flags, action=argparse.BooleanOptionalAction, default=default,
                                   help=help_text)
        elif isinstance(default, list):
            arg_group.add_argument(*flags, nargs="*", type=int, default=default, help=help_text)
        else:
            arg_group.add_argument(*flags, type=type(default), default=default, help=help_text,
                                   choices=f.metadata.get("choices"))


def extract(group: type[T], args: argparse.Namespace) -> T:
    """Build parameter dataclass `group` from parsed arguments."""
    return group(**{f.name: getattr(args, f.name) for f in dataclasses.fields(group)})


def load_json_file(path: str, what: str) -> dict[str, Any]:
    """Parse a JSON object from `path`; errors name the file and what it was for."""
    try:
        data = read_json(path, what)
    except FileNotFoundError as err:
        raise ConfigError(str(err)) from None
    except ValueError as err:
        raise ConfigError(f"{err}; it is parsed, never evaluated") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {path} must hold a JSON object, got {type(data).__name__}")
    return data


def explicit_flags(parser: argparse.ArgumentParser, argv: Sequence[str]) -> set[str]:
    """Names of the options actually typed on the command line (not defaults)."""
    probe = argparse.ArgumentParser(add_help=False)
    for action in parser._actions:  # a twin parser whose defaults are all SUPPRESS
        if action.option_strings and not isinstance(action, argparse._HelpAction):
            kwargs = {"dest": action.dest, "default": argparse.SUPPRESS}
            if isinstance(action, (argparse._StoreTrueAction, argparse.BooleanOptionalAction)):
                probe.add_argument(*action.option_strings, action="store_true", **kwargs)
            else:
                probe.add_argument(*action.option_strings, nargs=action.nargs, **kwargs)
    known, _ = probe.parse_known_args(list(argv))
    return set(vars(known))


def merge_under_cli(args: argparse.Namespace, values: dict[str, Any], explicit: set[str],
                    source: str) -> argparse.Namespace:
    """Set `values` on `args` except where the user typed the flag; unknown keys are an error."""
    for key, value in values.items():
        if not hasattr(args, key):
            raise ConfigError(f"{source}: unknown key '{key}'")
        if key not in explicit:
            current = getattr(args, key)
            if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if current is not None and not isinstance(value, type(current)) and not (
                    isinstance(current, list) and isinstance(value, list)):
                raise ConfigError(f"{source}: key '{key}' should be {type(current).__name__}, "
                                  f"got {type(value).__name__} ({value!r})")
            if key in FIELD_CHOICES and value not in FIELD_CHOICES[key]:
                raise ConfigError(f"{source}: key '{key}' must be one of {FIELD_CHOICES[key]}, "
                                  f"got {value!r}")
            setattr(args, key, value)
    return args


def check_port_number(port: int, what: str) -> int:
    """`port` if it is a TCP port number (1-65535), else a ValueError naming `what`."""
    if not 1 <= port <= 65535:
        raise ValueError(f"{what} {port} is not a port number (1-65535)")
    return port


def port_number(text: str) -> int:
    """argparse type of a `--port`: a TCP port number (1-65535)."""
    try:
        return check_port_number(int(text), "port")
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err) if text.lstrip("-").isdigit() else f"invalid port {text!r}")


def positive_int(text: str) -> int:
    """argparse type of a count that must be at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


class _RefusedFlag(argparse.Action):
    """A Gaussian Grouping flag with no meaning here: an error that says what to do instead."""

    def __init__(self, option_strings, dest, hint: str, **kwargs):
        self.hint = hint
        super().__init__(option_strings, dest, nargs="?", default=argparse.SUPPRESS, help=f"(refused) {hint}")

    def __call__(self, parser, namespace, values, option_string=None):
        parser.error(f"{option_string} is Gaussian Grouping's and not supported here: {self.hint}")


# Accepted so that GG's command lines run unchanged; they start GG's SIBR network viewer there.
IGNORED_GG_FLAGS = {"--ip": str, "--port": int}
REFUSED_GG_FLAGS = {
    "--n_views": "GG's few-view training split is not implemented; pick views with --eval "
                 "(test_mask/ views or every 8th) or a smaller images/ folder",
    "--train_split": "GG's train-split switch is not implemented; --eval holds out the test_mask/ views "
                     "(or every 8th image)",
}


def add_gaussian_grouping_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Gaussian Grouping compatibility")
    for flag, kind in IGNORED_GG_FLAGS.items():
        group.add_argument(flag, type=kind, default=None, help="accepted and ignored (GG's network viewer)")
    for flag, hint in REFUSED_GG_FLAGS.items():
        group.add_argument(flag, action=_RefusedFlag, hint=hint)


def parse_training_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse `train.py`'s command line, with `--config_file` values under explicit flags."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description="Train a GradiSeg / Gaussian Grouping model")
    for group in GROUPS:
        add_group(parser, group)
    add_gaussian_grouping_flags(parser)
    args = parser.parse_args(argv)
    for flag in IGNORED_GG_FLAGS:
        if getattr(args, flag[2:]) is not None:
            print(f"note: {flag} is ignored (it starts Gaussian Grouping's network viewer)", file=sys.stderr)
        delattr(args, flag[2:])
    given = explicit_flags(parser, argv)
    if args.config_file:
        config = load_json_file(args.config_file, "config file")
        merge_under_cli(args, config, given, args.config_file)
        given |= set(config)
    if not args.model_path:
        parser.error("-m/--model_path is required")
    if args.resume or args.start_checkpoint:
        inherit_saved_settings(args, given)
    if not args.source_path:
        parser.error("-s/--source_path is required")
    try:
        check_port_number(args.viewer_port, "--viewer_port")
    except ValueError as err:
        parser.error(str(err))
    if args.iterations not in args.save_iterations:
        args.save_iterations.append(args.iterations)
    return args


# How this process runs, not what the model is: a resumed run does not take these from cfg_args.
PER_PROCESS_SETTINGS = ("model_path", "resume", "start_checkpoint", "overwrite", "resume_other_scene",
                        "device", "data_device", "threads", "quiet", "viewer", "viewer_port",
                        "viewer_refresh", "detect_anomaly", "debug_from", "config_file")


def inherit_saved_settings(args: argparse.Namespace, given: set[str]) -> argparse.Namespace:
    """A resumed run continues the run in its model folder: the settings `<model>/cfg_args`
    recorded apply unless typed on the command line or in `--config_file` (`given`). Nothing
    when the folder has no cfg_args (a checkpoint taken from elsewhere)."""
    if not os.path.isfile(os.path.join(args.model_path, "cfg_args")):
        return args
    saved = {key: value for key, value in read_cfg_args(args.model_path).items()
             if hasattr(args, key) and key not in PER_PROCESS_SETTINGS}
    return merge_under_cli(args, saved, given, os.path.join(args.model_path, "cfg_args"))


def format_cfg_args(values: dict[str, Any]) -> str:
    """`Namespace(a=1, b='x', ...)`, keys sorted: the one-line form 3DGS and GG write."""
    return "Namespace(" + ", ".join(f"{key}={values[key]!r}" for key in sorted(values)) + ")"


def parse_cfg_args(text: str, path: str) -> dict[str, Any]:
    """The values of a `cfg_args` file: 3DGS/GG's `Namespace(...)` line (keyword arguments that
    are Python literals, read with `ast.literal_eval`, never evaluated) or a JSON object."""
    text = text.strip()
    if text.startswith("{"):
        try:
            values = json.loads(text)
        except json.JSONDecodeError as err:
            raise ConfigError(f"model config {path} is not valid JSON ({err})") from None
        if not isinstance(values, dict):
            raise ConfigError(f"model config {path} must hold an object")
        return values
    try:
        call = ast.parse(text, mode="eval").body
    except SyntaxError as err:
        raise ConfigError(f"model config {path} is neither Namespace(...) nor JSON ({err.msg})") from None
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "Namespace"
            and not call.args and all(kw.arg for kw in call.keywords)):
        raise ConfigError(f"model config {path} must be one Namespace(key=value, ...) line, as 3DGS writes it")
    values = {}
    for keyword in call.keywords:
        try:
            values[keyword.arg] = ast.literal_eval(keyword.value)
        except ValueError:
            raise ConfigError(f"model config {path}: '{keyword.arg}' is not a literal value "
                              f"(cfg_args is parsed, never evaluated)") from None
    return values


def write_cfg_args(args: argparse.Namespace, model_path: str) -> None:
    """Record the run's parameters in `<model>/cfg_args` (atomically), in 3DGS's Namespace form."""
    write_text_atomic(os.path.join(model_path, "cfg_args"), format_cfg_args(vars(args)))


def read_cfg_args(model_path: str) -> dict[str, Any]:
    """The parameters a model was trained with (`<model>/cfg_args`)."""
    path = os.path.join(model_path, "cfg_args")
    try:
        with open(path) as fh:
            text = fh.read()
    except FileNotFoundError:
        raise ConfigError(f"model config not found: {path}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"model config {path} cannot be read ({err})") from None
    return parse_cfg_args(text, path)


def merge_saved_cfg_args(args: argparse.Namespace, model_path: str, explicit: set[str]) -> argparse.Namespace:
    """Set the values `<model_path>/cfg_args` recorded on `args`, except the flags in `explicit`
    and the model path (the folder may have moved); keys `args` does not know are ignored."""
    saved = {k: v for k, v in read_cfg_args(model_path).items() if hasattr(args, k) and k != "model_path"}
    return merge_under_cli(args, saved, explicit, os.path.join(model_path, "cfg_args"))


def combine_with_cfg_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None
                          ) -> argparse.Namespace:
    """Parse a post-training command line (render, eval) with the model's `cfg_args` underneath."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if not getattr(args, "model_path", ""):
        parser.error("-m/--model_path is required")
    return merge_saved_cfg_args(args, args.model_path, explicit_flags(parser, argv))


def saved_params(group: type[T], model_path: str, **overrides: Any) -> T:
    """Parameter group `group` as the model folder's `cfg_args` recorded it (defaults for the
    keys it lacks; `model_path` is where the folder is now), with `overrides` on top."""
    parser = argparse.ArgumentParser()
    add_group(parser, group)
    args = merge_saved_cfg_args(parser.parse_args([]), model_path, set(overrides))
    for key, value in {**overrides, "model_path": model_path}.items():
        if hasattr(args, key):
            setattr(args, key, value)
    return extract(group, args)

