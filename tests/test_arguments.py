import argparse
import json

import pytest

from arguments import (
    ConfigError,
    ModelParams,
    OptimizationParams,
    add_group,
    combine_with_cfg_args,
    extract,
    parse_training_args,
    write_cfg_args,
)


def write_json(path, data):
    path.write_text(json.dumps(data))
    return str(path)


def test_config_values_apply_and_cli_flags_win(tmp_path):
    cfg = write_json(tmp_path / "c.json", {"iterations": 500, "densify_until_iter": 250,
                                           "num_classes": 32, "white_background": True})
    args = parse_training_args(["-s", "scene", "-m", "out", "--config_file", cfg,
                                "--iterations", "700"])
    assert args.iterations == 700                 # typed flag beats the config
    assert args.densify_until_iter == 250         # config beats the default
    assert args.num_classes == 32
    assert args.white_background is True
    assert args.save_iterations[-1] == 700        # the final iteration is always saved
    opt = extract(OptimizationParams, args)
    assert opt.iterations == 700 and opt.densify_until_iter == 250


def test_config_int_for_float_field_is_accepted(tmp_path):
    cfg = write_json(tmp_path / "c.json", {"reg3d_lambda_val": 2})
    args = parse_training_args(["-s", "a", "-m", "b", "--config_file", cfg])
    assert isinstance(args.reg3d_lambda_val, float) and args.reg3d_lambda_val == 2.0


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "must hold a JSON object"),
    ('{"no_such_key": 1}', "unknown key 'no_such_key'"),
    ('{"iterations": "many"}', "key 'iterations' should be int"),
    ('{"laknn_ranking": "nearest"}', "key 'laknn_ranking' must be one of ('distance', 'projection')"),
])
def test_bad_config_file_names_file_and_problem(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ConfigError) as err:
        parse_training_args(["-s", "a", "-m", "b", "--config_file", str(path)])
    assert str(path) in str(err.value) and message in str(err.value)


def render_parser():
    parser = argparse.ArgumentParser()
    add_group(parser, ModelParams)
    parser.add_argument("--iteration", type=int, default=-1)
    return parser


def test_cfg_args_round_trip_under_cli(tmp_path):
    args = parse_training_args(["-s", "/data/scene", "-m", str(tmp_path), "--num_classes", "40",
                                "--eval"])
    write_cfg_args(args, str(tmp_path))
    combined = combine_with_cfg_args(render_parser(), ["-m", str(tmp_path), "--num_classes", "41"])
    assert combined.source_path == "/data/scene"
    assert combined.eval is True
    assert combined.num_classes == 41


def test_corrupt_cfg_args_is_an_error_never_evaluated(tmp_path):
    # 3DGS/GG write cfg_args as a Namespace repr and evaluate it when reading; ours is JSON only.
    (tmp_path / "cfg_args").write_text("Namespace(source_path=__import__('os').getcwd())")
    with pytest.raises(ConfigError) as err:
        combine_with_cfg_args(render_parser(), ["-m", str(tmp_path)])
    assert "cfg_args" in str(err.value) and "never evaluated" in str(err.value)


def test_missing_cfg_args_names_the_file(tmp_path):
    with pytest.raises(ConfigError, match="cfg_args"):
        combine_with_cfg_args(render_parser(), ["-m", str(tmp_path)])


def test_model_params_extract_defaults():
    parser = argparse.ArgumentParser()
    add_group(parser, ModelParams)
    params = extract(ModelParams, parser.parse_args(["-s", "x", "-r", "2"]))
    assert params.source_path == "x" and params.resolution == 2 and params.num_objects == 16
