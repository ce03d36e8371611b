"""Training losses: photometric (L1, SSIM), identity cross-entropy, neighbour KL."""
from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F


def l1_loss(network_output: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    return torch.abs(network_output - gt).mean()


@lru_cache(maxsize=8)
def _gaussian_taps(window_size: int, sigma: float = 1.5) -> torch.Tensor:
    """(window_size,) normalised 1D Gaussian: the 3DGS SSIM window is its outer product."""
    coords = torch.arange(window_size, dtype=torch.float64) - window_size // 2
    g = torch.exp(-coords ** 2 / (2 * sigma ** 2))
    return (g / g.sum()).float()


def _gaussian_blur(images: torch.Tensor, window_size: int) -> torch.Tensor:
    """Each channel of (B, C, H, W) convolved with the (w, w) Gaussian window, zero padded: as
    one depthwise conv with the 2D window, but separably (2w instead of w^2 taps a pixel)."""
    channels, pad = images.shape[1], window_size // 2
    taps = _gaussian_taps(window_size).to(images.device, images.dtype)
    vertical = taps.view(1, 1, window_size, 1).expand(channels, 1, window_size, 1)
    horizontal = taps.view(1, 1, 1, window_size).expand(channels, 1, 1, window_size)
    images = F.conv2d(images, vertical, padding=(pad, 0), groups=channels)
    return F.conv2d(images, horizontal, padding=(0, pad), groups=channels)


def ssim(img1: torch.Tensor, img2: torch.Tensor, window_size: int = 11) -> torch.Tensor:
    """Mean SSIM of two (C, H, W) or (B, C, H, W) images, 3DGS's Gaussian-window form."""
    if img1.dim() == 3:
        img1, img2 = img1[None], img2[None]
    channels = img1.shape[1]
    # The five local means in one blur: x, y, x^2, y^2, xy stacked along the channels.
    moments = _gaussian_blur(torch.cat([img1, img2, img1 * img1, img2 * img2, img1 * img2], dim=1),
                             window_size)
    mu1, mu2, mean11, mean22, mean12 = moments.split(channels, dim=1)
    mu1_sq, mu2_sq, mu1_mu2 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    sigma1_sq, sigma2_sq, sigma12 = mean11 - mu1_sq, mean22 - mu2_sq, mean12 - mu1_mu2
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    ssim_map = ((2 * mu1_mu2 + c1) * (2 * sigma12 + c2)) / (
        (mu1_sq + mu2_sq + c1) * (sigma1_sq + sigma2_sq + c2))
    return ssim_map.mean()


def psnr(img1: torch.Tensor, img2: torch.Tensor) -> torch.Tensor:
    """PSNR in dB of images in [0, 1] (mean over all elements)."""
    mse = ((img1 - img2) ** 2).mean()
    return 20 * torch.log10(1.0 / torch.sqrt(mse))


def masked_l1_loss(image: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of (C, H, W) images over the pixels where `mask` (H, W) bool is
    True (zero for an empty mask)."""
    weights = mask.to(image.dtype)
    return ((image - gt).abs() * weights).sum() / (weights.sum() * image.shape[0]).clamp_min(1.0)


def photometric_loss(image: torch.Tensor, gt: torch.Tensor, lambda_dssim: float) -> torch.Tensor:
    """(1 - lambda) L1 + lambda (1 - SSIM) of (3, H, W) images."""
    return (1.0 - lambda_dssim) * l1_loss(image, gt) + lambda_dssim * (1.0 - ssim(image, gt))


def identity_ce_loss(logits: torch.Tensor, gt_ids: torch.Tensor) -> torch.Tensor:
    """Pixel cross-entropy of (num_classes, H, W) logits against (H, W) ids, / log(num_classes)
    so that a uniform prediction scores 1 whatever the class count (Gaussian Grouping)."""
    num_classes = logits.shape[0]
    ce = F.cross_entropy(logits[None], gt_ids[None].long())
    return ce / math.log(num_classes)


def neighbour_kl_loss(probs: torch.Tensor, target_idx: torch.Tensor,
                      neighbour_idx: torch.Tensor) -> torch.Tensor:
    """Mean over targets and neighbours of KL(P_t || P_k), divided by the class count.

    probs: (N, C) class probabilities of every Gaussian; target_idx: (M,);
    neighbour_idx: (M, K) indices into probs. This is Gaussian Grouping's `loss_cls_3d`
    reduction (mean over the M x K pairs), which both global KNN and LA-KNN use.
    """
    p_t = probs[target_idx].unsqueeze(1)        # (M, 1, C)
    p_k = probs[neighbour_idx]                  # (M, K, C)
    kl = p_t * (torch.log(p_t + 1e-10) - torch.log(p_k + 1e-10))
    return kl.sum(dim=-1).mean() / probs.shape[1]
