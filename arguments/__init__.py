"""Command-line parameter groups (3DGS / Gaussian Grouping names) and JSON config merging.

Each group is a dataclass; its fields become `--flags` (with 3DGS's short forms) and
`extract(args)` builds the dataclass back from parsed arguments. A JSON config file
(`--config_file`) supplies values for any flag; a flag given on the command line wins.
Configs and a model folder's `cfg_args` are parsed as JSON, never evaluated.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Sequence, TypeVar

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
    data_device: str = field(default="cpu", metadata={"help": "where images are kept"})
    eval: bool = field(default=False, metadata={"help": "hold out test views (test_mask/ or every 8th)"})
    num_classes: int = field(default=256, metadata={"help": "object ids the classifier predicts"})
    num_objects: int = field(default=16, metadata={"help": "identity encoding dimension D"})
    allow_missing_masks: bool = field(default=False, metadata={
        "help": "train views without a mask on the photometric loss only"})


@dataclass
class PipelineParams:
    convert_SHs_python: bool = False
    compute_cov3D_python: bool = False
    debug: bool = False
    backend: str = field(default="auto", metadata={
        "choices": ("auto", "cpp", "reference"),
        "help": "rasterizer: auto (C++ extension if built), cpp, reference"})


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
    igd_max_fraction: float = field(default=0.02, metadata={
        "help": "at most this fraction of the Gaussians is split per IGD round"})
    igd_neighbors: int = 16
    laknn_from_iter: int = 15_000
    laknn_candidates: int = 16
    laknn_ranking: str = field(default="distance", metadata={
        "choices": ("distance", "projection"),
        "help": "order of the candidates ahead of a target: nearest first, or smallest projection "
                "onto the neighbouring direction first (DESIGN's literal reading; less pure)"})


@dataclass
class RunParams:
    """What a run does around the optimisation: logging, evaluation, saving, resuming."""
    config_file: str = field(default="", metadata={"help": "JSON config; command-line flags override it"})
    test_iterations: list = field(default_factory=lambda: [7_000, 30_000])
    save_iterations: list = field(default_factory=lambda: [7_000, 30_000])
    checkpoint_iterations: list = field(default_factory=list)
    start_checkpoint: str = field(default="", metadata={"help": "resume from this chkpnt<N>.pth"})
    resume: bool = field(default=False, metadata={
        "help": "resume from the latest chkpnt<N>.pth in the model folder"})
    overwrite: bool = field(default=False, metadata={
        "help": "delete another run's saves, checkpoints and renders in the model folder first"})
    seed: int = 0
    quiet: bool = False
    threads: int = field(default=0, metadata={"help": "CPU threads (0: torch's default)"})


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
            arg_group.add_argument(*flags, action="store_true", default=default, help=help_text)
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
        with open(path) as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{what} not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{what} {path} is not valid JSON ({err}); it is parsed, never evaluated") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {path} must hold a JSON object, got {type(data).__name__}")
    return data


def explicit_flags(parser: argparse.ArgumentParser, argv: Sequence[str]) -> set[str]:
    """Names of the options actually typed on the command line (not defaults)."""
    probe = argparse.ArgumentParser(add_help=False)
    for action in parser._actions:  # a twin parser whose defaults are all SUPPRESS
        if action.option_strings and not isinstance(action, argparse._HelpAction):
            kwargs = {"dest": action.dest, "default": argparse.SUPPRESS}
            if isinstance(action, argparse._StoreTrueAction):
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


def parse_training_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse `train.py`'s command line, with `--config_file` values under explicit flags."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description="Train a GradiSeg / Gaussian Grouping model")
    for group in GROUPS:
        add_group(parser, group)
    args = parser.parse_args(argv)
    if args.config_file:
        merge_under_cli(args, load_json_file(args.config_file, "config file"),
                        explicit_flags(parser, argv), args.config_file)
    if not args.source_path:
        parser.error("-s/--source_path is required")
    if not args.model_path:
        parser.error("-m/--model_path is required")
    if args.iterations not in args.save_iterations:
        args.save_iterations.append(args.iterations)
    return args


def write_cfg_args(args: argparse.Namespace, model_path: str) -> None:
    """Record the run's parameters as JSON in `<model>/cfg_args` (atomically)."""
    os.makedirs(model_path, exist_ok=True)
    path = os.path.join(model_path, "cfg_args")
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(vars(args), fh, indent=2, sort_keys=True)
    os.replace(tmp, path)


def read_cfg_args(model_path: str) -> dict[str, Any]:
    """The parameters a model was trained with (`<model>/cfg_args`, JSON)."""
    return load_json_file(os.path.join(model_path, "cfg_args"), "model config")


def combine_with_cfg_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None
                          ) -> argparse.Namespace:
    """Parse a post-training command line (render, eval) with the model's `cfg_args` underneath."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if not getattr(args, "model_path", ""):
        parser.error("-m/--model_path is required")
    saved = read_cfg_args(args.model_path)
    known = {k: v for k, v in saved.items() if hasattr(args, k) and k != "model_path"}
    return merge_under_cli(args, known, explicit_flags(parser, argv),
                           os.path.join(args.model_path, "cfg_args"))
