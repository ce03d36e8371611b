"""The shipped configs: each Gaussian Grouping schedule is its GradiSeg twin with both modules
switched off (they cannot drift apart), and every config file holds only keys train.py knows."""
import dataclasses
import glob
import json
import os

import pytest

from arguments import GradiSegParams, parse_training_args
from tests.conftest import ROOT

GRADISEG = os.path.join(ROOT, "config", "gradiseg")
GAUSSIAN_GROUPING = os.path.join(ROOT, "config", "gaussian_grouping")
# Keys that only steer IGD and LA-KNN; with both switched off they have no effect.
METHOD_KEYS = {f.name for f in dataclasses.fields(GradiSegParams)}


def read(path: str) -> dict:
    with open(path) as fh:
        return json.load(fh)


def test_every_gradiseg_schedule_has_a_gaussian_grouping_twin():
    names = sorted(os.listdir(GRADISEG))
    assert names and names == sorted(os.listdir(GAUSSIAN_GROUPING))


@pytest.mark.parametrize("name", sorted(os.listdir(GRADISEG)))
def test_gaussian_grouping_is_gradiseg_with_both_modules_off(name):
    gradiseg, grouping = read(os.path.join(GRADISEG, name)), read(os.path.join(GAUSSIAN_GROUPING, name))
    assert grouping["no_igd"] is True and grouping["no_laknn"] is True
    assert not gradiseg.get("no_igd", False) and not gradiseg.get("no_laknn", False)
    shared = {key: value for key, value in gradiseg.items() if key not in METHOD_KEYS}
    assert {key: value for key, value in grouping.items() if key not in METHOD_KEYS} == shared


CONFIGS = sorted(glob.glob(os.path.join(ROOT, "config", "**", "*.json"), recursive=True))
TRAINING_CONFIGS = [p for p in CONFIGS if os.path.basename(os.path.dirname(p)) != "bench"
                    or os.path.basename(p).endswith("_train.json")]


@pytest.mark.parametrize("path", TRAINING_CONFIGS, ids=[os.path.relpath(p, ROOT) for p in TRAINING_CONFIGS])
def test_training_configs_hold_only_known_keys(path):
    args = parse_training_args(["-s", "scene", "-m", "model", "--config_file", path])
    assert all(getattr(args, key) == value for key, value in read(path).items()
               if not isinstance(value, list))
