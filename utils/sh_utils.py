"""Real spherical harmonics up to degree 3, constants and sign conventions of 3DGS, and the
rotation of SH coefficients with a rigid motion (fitted on well-spread directions)."""
from __future__ import annotations

import numpy as np
import torch

C0 = 0.28209479177387814
C1 = 0.4886025119029199
C2 = [1.0925484305920792, -1.0925484305920792, 0.31539156525252005,
      -1.0925484305920792, 0.5462742152960396]
C3 = [-0.5900435899266435, 2.890611442640554, -0.4570457994644658, 0.3731763325901154,
      -0.4570457994644658, 1.445305721320277, -0.5900435899266435]


def eval_sh(deg: int, sh: torch.Tensor, dirs: torch.Tensor) -> torch.Tensor:
    """Evaluate SH. sh: (..., C, (deg+1)**2), dirs: (..., 3) unit vectors -> (..., C)."""
    assert 0 <= deg <= 3
    assert (deg + 1) ** 2 <= sh.shape[-1]
    result = C0 * sh[..., 0]
    if deg > 0:
        x, y, z = dirs[..., 0:1], dirs[..., 1:2], dirs[..., 2:3]
        result = result - C1 * y * sh[..., 1] + C1 * z * sh[..., 2] - C1 * x * sh[..., 3]
        if deg > 1:
            xx, yy, zz = x * x, y * y, z * z
            xy, yz, xz = x * y, y * z, x * z
            result = (result + C2[0] * xy * sh[..., 4] + C2[1] * yz * sh[..., 5]
                      + C2[2] * (2.0 * zz - xx - yy) * sh[..., 6]
                      + C2[3] * xz * sh[..., 7] + C2[4] * (xx - yy) * sh[..., 8])
            if deg > 2:
                result = (result
                          + C3[0] * y * (3 * xx - yy) * sh[..., 9]
                          + C3[1] * xy * z * sh[..., 10]
                          + C3[2] * y * (4 * zz - xx - yy) * sh[..., 11]
                          + C3[3] * z * (2 * zz - 3 * xx - 3 * yy) * sh[..., 12]
                          + C3[4] * x * (4 * zz - xx - yy) * sh[..., 13]
                          + C3[5] * z * (xx - yy) * sh[..., 14]
                          + C3[6] * x * (xx - 3 * yy) * sh[..., 15])
    return result


def colors_from_sh(sh_degree: int, shs: torch.Tensor, means3D: torch.Tensor,
                   campos: torch.Tensor) -> torch.Tensor:
    """View-dependent RGB (N, 3) from SH coefficients (N, K, 3) seen from campos (3,):
    eval_sh + 0.5, clamped at 0 (no gradient through clamped channels)."""
    dirs = means3D - campos
    dirs = dirs / dirs.norm(dim=1, keepdim=True)
    return torch.clamp_min(eval_sh(sh_degree, shs.transpose(1, 2), dirs) + 0.5, 0.0)


def RGB2SH(rgb):
    return (rgb - 0.5) / C0


def SH2RGB(sh):
    return sh * C0 + 0.5


def fibonacci_sphere(count: int) -> np.ndarray:
    """(count, 3) unit vectors spread evenly over the sphere."""
    i = np.arange(count) + 0.5
    z = 1.0 - 2.0 * i / count
    azimuth = np.pi * (1.0 + 5.0 ** 0.5) * i
    r = np.sqrt(1.0 - z * z)
    return np.stack([r * np.cos(azimuth), r * np.sin(azimuth), z], axis=1)


def sh_basis(degree: int, directions: torch.Tensor) -> torch.Tensor:
    """(M, (degree+1)^2) values of the SH basis functions of `eval_sh` (3DGS's constants and
    signs) at unit `directions` (M, 3)."""
    k = (degree + 1) ** 2
    one_hot = torch.eye(k, dtype=directions.dtype).expand(len(directions), k, k)
    return eval_sh(degree, one_hot, directions)


def sh_band_rotations(rotation: np.ndarray, degree: int) -> list[torch.Tensor]:
    """Per band l = 1..degree the (2l+1, 2l+1) matrix D_l taking the coefficients c of a
    function f to those of f'(d) = f(R^T d), i.e. the colour a Gaussian turned by R shows
    along R d equals the colour it showed along d. Each band is closed under rotation, so D_l
    is the exact least-squares solution of Y_l(d_i) D_l = Y_l(R^T d_i) over sample directions."""
    directions = torch.from_numpy(fibonacci_sphere(64))
    basis = sh_basis(degree, directions)
    basis_turned = sh_basis(degree, directions @ torch.from_numpy(rotation).double())  # rows R^T d
    bands = []
    for l in range(1, degree + 1):
        band = slice(l * l, (l + 1) * (l + 1))
        bands.append(torch.linalg.lstsq(basis[:, band], basis_turned[:, band]).solution)
    return bands


def rotate_sh_rest(features_rest: torch.Tensor, rotation: np.ndarray) -> torch.Tensor:
    """SH coefficients of degrees 1.. (N, K-1, 3) of Gaussians turned by `rotation` (3, 3)."""
    degree = int(round((features_rest.shape[1] + 1) ** 0.5)) - 1
    turned = features_rest.double().clone()
    for l, matrix in enumerate(sh_band_rotations(rotation, degree), start=1):
        band = slice(l * l - 1, (l + 1) * (l + 1) - 1)  # f_rest holds coefficients from index 1
        turned[:, band] = torch.einsum("ij,njc->nic", matrix.to(turned.device), features_rest[:, band].double())
    return turned.to(features_rest.dtype)
