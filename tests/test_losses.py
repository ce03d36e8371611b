import math

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

from utils.loss_utils import identity_ce_loss, neighbour_kl_loss, psnr, ssim


def ssim_scipy(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM with scipy's Gaussian filter: sigma 1.5, 11-tap window, zero padding (3DGS's form)."""
    def blur(x):
        return gaussian_filter(x, sigma=1.5, truncate=5 / 1.5, mode="constant", cval=0.0)
    values = []
    for ca, cb in zip(a, b):
        mu1, mu2 = blur(ca), blur(cb)
        s1 = blur(ca * ca) - mu1 ** 2
        s2 = blur(cb * cb) - mu2 ** 2
        s12 = blur(ca * cb) - mu1 * mu2
        c1, c2 = 0.01 ** 2, 0.03 ** 2
        values.append(((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1 ** 2 + mu2 ** 2 + c1) * (s1 + s2 + c2)))
    return float(np.mean(values))


def test_ssim_matches_scipy_reference():
    rng = np.random.default_rng(0)
    a = rng.random((3, 23, 31))
    b = np.clip(a + 0.1 * rng.standard_normal(a.shape), 0, 1)
    ours = ssim(torch.tensor(a, dtype=torch.float32), torch.tensor(b, dtype=torch.float32)).item()
    assert abs(ours - ssim_scipy(a, b)) < 1e-5
    assert abs(ssim(torch.tensor(a), torch.tensor(a)).item() - 1.0) < 1e-6


def test_psnr_hand_computed():
    a = torch.zeros(3, 4, 4)
    b = torch.full((3, 4, 4), 0.1)
    assert abs(psnr(a, b).item() - 20.0) < 1e-4


def test_identity_ce_is_one_for_uniform_logits_and_small_when_right():
    gt = torch.tensor([[0, 1], [2, 3]])
    assert abs(identity_ce_loss(torch.zeros(16, 2, 2), gt).item() - 1.0) < 1e-6
    logits = torch.full((16, 2, 2), -20.0)
    for y in range(2):
        for x in range(2):
            logits[gt[y, x], y, x] = 20.0
    assert identity_ce_loss(logits, gt).item() < 1e-6


def test_neighbour_kl_hand_computed():
    probs = torch.tensor([[0.5, 0.5], [0.9, 0.1], [0.5, 0.5]])
    target = torch.tensor([0])
    neighbours = torch.tensor([[1, 2]])
    kl_01 = 0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1)
    expected = (kl_01 + 0.0) / 2 / 2      # mean over the 2 neighbours, / 2 classes
    assert abs(neighbour_kl_loss(probs, target, neighbours).item() - expected) < 1e-6
