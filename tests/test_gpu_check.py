"""scripts/gpu_check.sh on the CPU: its existing-Python mode installs only what is missing, and its
dry run goes through every step (build, parity, train, render, the peer comparison's code) so
that the script cannot rot between GPU runs. Also: the start-up path of train.py stays free of
the viewer's dependencies (an offline GPU machine is not given them)."""
import base64
import hashlib
import os
import subprocess
import sys
import zipfile

import pytest

from bench.peer_rasterizer import PEER_PACKAGE, prepare_peer_source

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "scripts", "gpu_check.sh")
PROBE = "gradiseg_gpu_check_probe"


def make_wheel(folder, name: str, version: str) -> str:
    """A minimal pure-Python wheel of the module `name` (VALUE = 1)."""
    files = {f"{name}/__init__.py": b"VALUE = 1\n",
             f"{name}-{version}.dist-info/METADATA":
                 f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
             f"{name}-{version}.dist-info/WHEEL":
                 b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = "".join(
        f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}\n"
        for path, data in files.items()) + f"{name}-{version}.dist-info/RECORD,,\n"
    files[f"{name}-{version}.dist-info/RECORD"] = record.encode()
    path = os.path.join(folder, f"{name}-{version}-py3-none-any.whl")
    with zipfile.ZipFile(path, "w") as wheel:
        for member, data in files.items():
            wheel.writestr(member, data)
    return path


def run_check(tmp_path, *args: str, env: dict | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", SCRIPT, "--cpu-dry-run", "--python", sys.executable, "--out", str(tmp_path / "out"),
                           "--build", str(tmp_path / "build"), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def test_existing_python_installs_only_what_is_not_importable(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels, PROBE, "1.0")
    # The real list (every module importable here) plus a package this Python lacks.
    listing = tmp_path / "gpu_wheels.txt"
    real = open(os.path.join(ROOT, "scripts", "gpu_wheels.txt")).read()
    listing.write_text(real + f"{PROBE}==1.0 {PROBE}\n")
    result = run_check(tmp_path, "--wheels", str(wheels), "--steps", "environment,packages",
                       env={"GPU_WHEELS_LIST": str(listing)})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    installed = sorted(os.listdir(tmp_path / "build" / "site"))
    assert PROBE in installed
    assert [name for name in installed if not name.startswith(PROBE)] == [], installed
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert f"| packages installed from wheels | {PROBE}==1.0 (already there: pycolmap==" in summary
    assert "| packages | ok |" in summary


def test_a_missing_package_without_wheels_is_a_one_line_failure_and_the_table_is_still_written(tmp_path):
    listing = tmp_path / "gpu_wheels.txt"
    listing.write_text(f"{PROBE}==1.0 {PROBE}\n")
    result = run_check(tmp_path, "--steps", "environment,packages,build", env={"GPU_WHEELS_LIST": str(listing)})
    assert result.returncode != 0
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "| packages | failed (exit 1) |" in summary
    assert "| build | skipped: packages failed (exit 1) |" in summary
    assert "pass --wheels DIR" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_bad_arguments_are_refused(tmp_path):
    result = run_check(tmp_path, "--steps", "environment,warp")
    assert result.returncode == 2 and "unknown step warp" in result.stderr
    result = run_check(tmp_path, "--wheels", str(tmp_path / "absent"))
    assert result.returncode == 2 and "no wheels folder" in result.stderr


def test_train_starts_without_the_viewer_packages():
    code = ("import runpy, sys; sys.argv = ['train.py', '--help']\n"
            "try:\n    runpy.run_path('train.py', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('viser', 'msgspec', 'trimesh') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.slow
def test_cpu_dry_run_of_every_step(tmp_path):
    result = run_check(tmp_path, env={"ITERATIONS": "30", "CPU_ITERATIONS": "20"}, timeout=1800)
    out = tmp_path / "out"
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    summary = (out / "summary.md").read_text()
    for step in ("environment", "packages", "build", "parity", "train", "render", "peer"):
        assert f"| {step} | ok |" in summary, summary
    assert "| parity: radii equal in every scene | yes |" in summary
    assert "cuda cases run: 0 of" in summary
    assert "ours cpp fwd ms" in summary and "| 2000 Gaussians, 64x48 | 0.00e+00 |" in summary
    assert "One full training iteration of ours at 3000 Gaussians" in summary
    # What comes back from a device run: at most 8 files, none in a sub-folder.
    files = sorted(os.listdir(out))
    assert len(files) <= 8 and all((out / name).is_file() for name in files), files


def test_the_peer_source_is_copied_under_another_package_name(tmp_path):
    source = tmp_path / "peer"
    (source / "diff_gaussian_rasterization").mkdir(parents=True)
    (source / "cuda_rasterizer").mkdir()
    (source / "diff_gaussian_rasterization" / "__init__.py").write_text("from . import _C\n")
    (source / "setup.py").write_text('setup(name="diff_gaussian_rasterization", packages=["diff_gaussian_rasterization"],'
                                     ' ext_modules=[CUDAExtension(name="diff_gaussian_rasterization._C")])\n')
    (source / "cuda_rasterizer" / "rasterizer_impl.h").write_text("#pragma once\nstd::uintptr_t x;\n")
    (source / "build").mkdir()
    dest = prepare_peer_source(str(source), str(tmp_path / "copy"))
    assert sorted(os.listdir(dest)) == ["cuda_rasterizer", PEER_PACKAGE, "setup.py"]
    setup_py = open(os.path.join(dest, "setup.py")).read()
    assert "diff_gaussian_rasterization" not in setup_py.replace(PEER_PACKAGE, "")
    assert setup_py.count(PEER_PACKAGE) == 3
    assert open(os.path.join(dest, "cuda_rasterizer", "rasterizer_impl.h")).read().startswith("#include <cstdint>\n")
    # The original is untouched, and a folder that is not the peer's source is refused.
    assert (source / "diff_gaussian_rasterization").is_dir()
    with pytest.raises(FileNotFoundError, match="not Gaussian Grouping's rasterizer source"):
        prepare_peer_source(str(tmp_path / "copy"), str(tmp_path / "again"))
