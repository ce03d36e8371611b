"""Exact nearest neighbours: simple_knn._C and utils/knn.py against scipy's cKDTree, numpy
brute force, and (for the CUDA sources) nvcc."""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
from contextlib import contextmanager

import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree

import utils.knn as knn_module
from utils.knn import knn, mean_sq_dist_to_3nn

try:
    from simple_knn import _C as ext
except ImportError:
    ext = None

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CSRC = os.path.join(ROOT, "submodules", "simple-knn", "csrc")
NVCC = "/usr/local/bin/nvcc" if os.path.exists("/usr/local/bin/nvcc") else shutil.which("nvcc")
needs_ext = pytest.mark.skipif(ext is None, reason="simple_knn not built (make setup builds it)")


def make_cloud(kind: str, seed: int = 0) -> np.ndarray:
    """(N, 3) float32 test clouds."""
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        return rng.random((1500, 3), dtype=np.float32)
    if kind == "clustered":
        centres = rng.random((6, 3))
        spread = 0.003 * rng.standard_normal((1500, 3))
        return (centres[rng.integers(0, 6, 1500)] + spread).astype(np.float32)
    if kind == "duplicates":  # point 0 forty times, point 1 ten: more copies than k + 1
        base = rng.random((300, 3), dtype=np.float32)
        cloud = np.concatenate([base, np.repeat(base[:1], 40, 0), np.repeat(base[1:2], 10, 0)])
        return cloud[rng.permutation(len(cloud))]
    if kind == "planar":  # z constant, and a grid so many distances tie exactly
        xy = rng.integers(0, 12, (600, 2)).astype(np.float32) * 0.25
        return np.concatenate([xy, np.full((600, 1), 0.5, np.float32)], 1)
    if kind == "tiny":  # fewer points than k
        return rng.random((3, 3), dtype=np.float32)
    raise ValueError(kind)


CLOUDS = ["uniform", "clustered", "duplicates", "planar", "tiny"]


def scipy_dist2(query: np.ndarray, points: np.ndarray, k: int, exclude_self: bool) -> np.ndarray:
    """(M, k) float64 squared distances from cKDTree, padded with +inf. With exclude_self the
    first column (the point itself, or a duplicate: distance 0 either way) is dropped."""
    found = min(k, len(points) - exclude_self)
    out = np.full((len(query), k), np.inf)
    if found > 0:
        tree = cKDTree(points.astype(np.float64))
        dist, _ = tree.query(query.astype(np.float64), found + exclude_self)
        out[:, :found] = np.square(dist.reshape(len(query), -1))[:, int(exclude_self):]
    return out


def bruteforce_float32(query: np.ndarray, points: np.ndarray, k: int, exclude_self: bool):
    """The extension's exact answer: float32 distances summed in x, y, z order, ranked by
    (distance, index), padded with (+inf, -1)."""
    diff = query[:, None, :] - points[None, :, :]
    dist2 = (diff[..., 0] * diff[..., 0] + diff[..., 1] * diff[..., 1]) + diff[..., 2] * diff[..., 2]
    if exclude_self:
        np.fill_diagonal(dist2, np.inf)
    index = np.broadcast_to(np.arange(len(points)), dist2.shape)
    order = np.lexsort((index, dist2), axis=-1)[:, :k]
    out_d = np.take_along_axis(dist2, order, 1)
    out_i = np.where(np.isinf(out_d), -1, order)
    pad = k - out_d.shape[1]
    return (np.pad(out_d, ((0, 0), (0, pad)), constant_values=np.inf),
            np.pad(out_i, ((0, 0), (0, pad)), constant_values=-1))


def queries_for(points: np.ndarray, exclude_self: bool) -> np.ndarray:
    """The points themselves for exclude_self; else some of them plus fresh random points."""
    if exclude_self:
        return points
    fresh = np.random.default_rng(1).random((200, 3), dtype=np.float32) * points.max(0)
    return np.concatenate([points[::7], fresh])


def check_neighbours(query: np.ndarray, points: np.ndarray, k: int, exclude_self: bool,
                     dist2: torch.Tensor, idx: torch.Tensor) -> None:
    """Distances match cKDTree's; every index is a real, distinct neighbour at that distance."""
    assert dist2.dtype == torch.float32 and idx.dtype == torch.int64
    assert dist2.shape == idx.shape == (len(query), k)
    d, i = dist2.numpy(), idx.numpy()
    np.testing.assert_allclose(d, scipy_dist2(query, points, k, exclude_self), rtol=1e-6, atol=1e-12)
    found = i >= 0
    assert np.array_equal(found, np.isfinite(d))
    neighbours = points[np.where(found, i, 0)].astype(np.float64)
    recomputed = np.square(query[:, None, :] - neighbours).sum(-1)
    np.testing.assert_allclose(d[found], recomputed[found], rtol=1e-6, atol=1e-12)
    for row, row_idx in enumerate(i):
        real = row_idx[row_idx >= 0]
        assert len(np.unique(real)) == len(real)
        assert not (exclude_self and row in real)


def run_extension(query, points, k, exclude_self):
    return ext.knn(torch.from_numpy(query), torch.from_numpy(points), k, exclude_self)


def run_utils(query, points, k, exclude_self):
    return knn(torch.from_numpy(query), torch.from_numpy(points), k, exclude_self=exclude_self)


@contextmanager
def scipy_only():
    """utils/knn.py as it runs when the extension is not built."""
    saved, knn_module.simple_knn_ext = knn_module.simple_knn_ext, None
    try:
        yield
    finally:
        knn_module.simple_knn_ext = saved


def run_utils_scipy(query, points, k, exclude_self):
    with scipy_only():
        return run_utils(query, points, k, exclude_self)


BACKENDS = [pytest.param(run_extension, marks=needs_ext, id="simple_knn._C"),
            pytest.param(run_utils, id="utils.knn"),
            pytest.param(run_utils_scipy, id="utils.knn-scipy")]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cloud", CLOUDS)
@pytest.mark.parametrize("k,exclude_self", [(1, False), (5, False), (5, True), (32, True)])
def test_knn_matches_scipy(backend, cloud, k, exclude_self):
    points = make_cloud(cloud)
    query = queries_for(points, exclude_self)
    check_neighbours(query, points, k, exclude_self, *backend(query, points, k, exclude_self))


@needs_ext
@pytest.mark.parametrize("cloud", CLOUDS)
@pytest.mark.parametrize("k,exclude_self", [(5, False), (5, True), (32, False)])
def test_extension_equals_bruteforce_with_index_tiebreak(cloud, k, exclude_self):
    points = make_cloud(cloud)
    query = queries_for(points, exclude_self)
    dist2, idx = run_extension(query, points, k, exclude_self)
    want_d, want_i = bruteforce_float32(query, points, k, exclude_self)
    np.testing.assert_array_equal(dist2.numpy(), want_d)
    np.testing.assert_array_equal(idx.numpy(), want_i)


@needs_ext
def test_extension_large_cloud_matches_scipy():
    points = np.random.default_rng(2).random((30_000, 3), dtype=np.float32)
    check_neighbours(points, points, 8, True, *run_extension(points, points, 8, True))


@needs_ext
def test_extension_is_deterministic_across_thread_counts():
    points = torch.from_numpy(make_cloud("duplicates"))
    saved = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = ext.knn(points, points, 6, True)
        torch.set_num_threads(2)
        two = ext.knn(points, points, 6, True)
    finally:
        torch.set_num_threads(saved)
    assert torch.equal(one[0], two[0]) and torch.equal(one[1], two[1])


def test_hand_computed_case():
    points = torch.tensor([[0., 0., 0.], [1., 0., 0.], [0., 2., 0.], [0., 0., 3.], [1., 0., 0.]])
    dist2, idx = knn(points[:2], points, 3, exclude_self=False)
    assert dist2.tolist() == [[0., 1., 1.], [0., 0., 1.]]
    assert idx[0, 0] == 0 and idx[1, 2] == 0 and sorted(idx[1].tolist()[:2]) == [1, 4]
    assert sorted(idx[0].tolist()[1:]) == [1, 4]
    # point 0: others at 1, 1, 4 -> 2; point 1: its duplicate (0), point 0 (1), point 2 (5) -> 2
    assert mean_sq_dist_to_3nn(points)[:2].tolist() == [2.0, 2.0]


def bruteforce_mean_sq_dist_to_3nn(points: np.ndarray) -> np.ndarray:
    dist2 = np.square(points[:, None, :].astype(np.float64) - points[None]).sum(-1)
    np.fill_diagonal(dist2, np.inf)
    nearest = np.sort(dist2, axis=1)[:, :min(3, len(points) - 1)]
    return nearest.mean(1) if nearest.shape[1] else np.full(len(points), np.inf)


def mean_sq_dist_to_3nn_scipy(points: torch.Tensor) -> torch.Tensor:
    with scipy_only():
        return mean_sq_dist_to_3nn(points)


DIST_FUNCTIONS = [pytest.param(lambda p: ext.distCUDA2(p), marks=needs_ext, id="distCUDA2"),
                  pytest.param(mean_sq_dist_to_3nn, id="mean_sq_dist_to_3nn"),
                  pytest.param(mean_sq_dist_to_3nn_scipy, id="mean_sq_dist_to_3nn-scipy")]


@pytest.mark.parametrize("function", DIST_FUNCTIONS)
@pytest.mark.parametrize("points", [make_cloud("uniform"), make_cloud("clustered"),
                                    make_cloud("duplicates"), make_cloud("planar"),
                                    make_cloud("uniform")[:4], make_cloud("uniform")[:3],
                                    make_cloud("uniform")[:2], make_cloud("uniform")[:1]],
                         ids=["uniform", "clustered", "duplicates", "planar", "N4", "N3", "N2", "N1"])
def test_mean_sq_dist_to_3nn_matches_bruteforce(function, points):
    got = function(torch.from_numpy(points))
    assert got.shape == (len(points),) and got.dtype == torch.float32
    want = bruteforce_mean_sq_dist_to_3nn(points)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_inputs_and_k_zero(backend):
    points = make_cloud("uniform")[:10]
    none = np.zeros((0, 3), np.float32)
    d, i = backend(points, none, 2, False)
    assert d.shape == (10, 2) and torch.isinf(d).all() and (i == -1).all()
    assert backend(none, points, 2, False)[0].shape == (0, 2)
    assert backend(points, points, 0, False)[1].shape == (10, 0)


def test_utils_accepts_float64_and_rejects_bad_input():
    points = torch.rand(20, 3, dtype=torch.float64)
    assert knn(points, points, 2)[0].dtype == torch.float32
    with pytest.raises(ValueError, match=r"points must have shape \(N, 3\)"):
        knn(points, points[:, :2], 2)
    with pytest.raises(ValueError, match="query has non-finite"):
        knn(torch.full((1, 3), float("nan")), points, 2)
    with pytest.raises(ValueError, match="k must be a non-negative int"):
        knn(points, points, -1)
    with pytest.raises(ValueError, match="exclude_self=True needs query to be the points"):
        knn(points[:5], points, 2, exclude_self=True)


@needs_ext
def test_extension_rejects_bad_input():
    points = torch.rand(20, 3)
    with pytest.raises(RuntimeError, match="points must be float32"):
        ext.knn(points, points.double(), 2)
    with pytest.raises(RuntimeError, match=r"query must have shape \(N, 3\)"):
        ext.knn(points[:, :2], points, 2)
    with pytest.raises(RuntimeError, match="points has non-finite"):
        ext.knn(points, torch.full((4, 3), float("inf")), 2)
    with pytest.raises(RuntimeError, match="exclude_self=True needs query"):
        ext.knn(points + 1, points, 2, True)


@pytest.mark.skipif(NVCC is None, reason="nvcc not installed")
@pytest.mark.parametrize("source", sorted(glob.glob(os.path.join(CSRC, "*.cu"))) or ["<none>"])
def test_cuda_sources_compile_with_nvcc(source, tmp_path):
    assert source != "<none>", f"no .cu files under {CSRC}"
    result = subprocess.run([NVCC, "-c", "-std=c++17", "--fmad=false", "-Werror", "all-warnings",
                             "-I", CSRC, source, "-o", str(tmp_path / "out.o")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
